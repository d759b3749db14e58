//! A short description of a GeoJSON document: what a person wants to know before opening it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use geojson::{GeoJson, Geometry, GeometryValue, Position};

/// Feature count, geometry types, property names and bounding box of a GeoJSON document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoSummary {
    /// Number of features (1 for a lone Feature, 0 for a bare Geometry).
    pub features: usize,
    /// How many geometries of each type (`Polygon`, `Point`, …).
    pub geometry_types: BTreeMap<&'static str, usize>,
    /// Every property name used by any feature, sorted.
    pub property_names: BTreeSet<String>,
    /// `[min_lon, min_lat, max_lon, max_lat]` over all coordinates, if there are any.
    pub bbox: Option<[f64; 4]>,
}

impl GeoSummary {
    /// Summarises a parsed document.
    pub fn of(geojson: &GeoJson) -> Self {
        let mut summary = Self::default();
        match geojson {
            GeoJson::FeatureCollection(collection) => {
                for feature in &collection.features {
                    summary.add_feature(feature);
                }
            }
            GeoJson::Feature(feature) => summary.add_feature(feature),
            GeoJson::Geometry(geometry) => summary.add_geometry(geometry),
        }
        summary
    }

    fn add_feature(&mut self, feature: &geojson::Feature) {
        self.features += 1;
        if let Some(properties) = &feature.properties {
            self.property_names.extend(properties.keys().cloned());
        }
        if let Some(geometry) = &feature.geometry {
            self.add_geometry(geometry);
        }
    }

    fn add_geometry(&mut self, geometry: &Geometry) {
        *self.geometry_types.entry(geometry.value.type_name()).or_default() += 1;
        match &geometry.value {
            GeometryValue::Point { coordinates } => self.add_position(coordinates),
            GeometryValue::MultiPoint { coordinates } | GeometryValue::LineString { coordinates } => {
                coordinates.iter().for_each(|p| self.add_position(p));
            }
            GeometryValue::MultiLineString { coordinates } | GeometryValue::Polygon { coordinates } => {
                coordinates.iter().flatten().for_each(|p| self.add_position(p));
            }
            GeometryValue::MultiPolygon { coordinates } => {
                coordinates.iter().flatten().flatten().for_each(|p| self.add_position(p));
            }
            GeometryValue::GeometryCollection { geometries } => {
                geometries.iter().for_each(|g| self.add_geometry(g));
            }
        }
    }

    fn add_position(&mut self, position: &Position) {
        let [x, y] = match position.as_slice() {
            [x, y, ..] => [*x, *y],
            _ => return,
        };
        let b = self.bbox.get_or_insert([x, y, x, y]);
        *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    }
}

impl fmt::Display for GeoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "features:        {}", self.features)?;
        let types: Vec<String> = self.geometry_types.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
        writeln!(f, "geometry types:  {}", if types.is_empty() { "none".into() } else { types.join(", ") })?;
        let names: Vec<&str> = self.property_names.iter().map(String::as_str).collect();
        writeln!(f, "properties:      {}", if names.is_empty() { "none".into() } else { names.join(", ") })?;
        match self.bbox {
            Some([w, s, e, n]) => write!(f, "bounding box:    lon {w} … {e}, lat {s} … {n}"),
            None => write!(f, "bounding box:    none (no coordinates)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_feature_collection() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"a":1,"b":2},"geometry":{"type":"Point","coordinates":[-110,45]}},
            {"type":"Feature","properties":{"c":null},"geometry":{"type":"Polygon","coordinates":[[[-111,44],[-109,44],[-109,47],[-111,44]]]}},
            {"type":"Feature","properties":null,"geometry":null}
        ]}"#;
        let summary = GeoSummary::of(&text.parse().expect("valid GeoJSON"));
        assert_eq!(summary.features, 3);
        assert_eq!(summary.geometry_types.get("Point"), Some(&1));
        assert_eq!(summary.geometry_types.get("Polygon"), Some(&1));
        assert_eq!(summary.property_names.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(summary.bbox, Some([-111.0, 44.0, -109.0, 47.0]));
    }

    #[test]
    fn a_bare_geometry_has_no_features() {
        let summary = GeoSummary::of(&r#"{"type":"Point","coordinates":[1,2]}"#.parse().expect("valid"));
        assert_eq!(summary.features, 0);
        assert_eq!(summary.bbox, Some([1.0, 2.0, 1.0, 2.0]));
        assert!(summary.to_string().contains("Point ×1"));
    }
}
