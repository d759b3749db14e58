//! The sandbox's S3 service: the storage of `s3s-fs`, with what a faithful S3 needs on top.
//!
//! Every operation is handed to [`s3s_fs::FileSystem`]; this layer adds what a faithful S3 needs
//! on top: `encoding-type=url` on listings, which boto3 and the aws CLI always ask for and then
//! URL-decode (without it a key such as `a+b.txt` would come back as `a b.txt`), and bucket
//! notifications, emitted once s3s-fs has renamed the new object into place.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;

use crate::notify::{CreatedObject, Notifications};

/// S3 backed by a directory.
#[derive(Debug)]
pub(crate) struct SandboxS3 {
    fs: FileSystem,
    root: PathBuf,
    notifications: Arc<Notifications>,
}

impl SandboxS3 {
    pub(crate) fn new(fs: FileSystem, root: PathBuf, notifications: Arc<Notifications>) -> Self {
        Self { fs, root, notifications }
    }

    /// Emits the event for a new object, in the background: S3 answers the write first.
    async fn created(&self, bucket: String, key: String, etag: Option<&ETag>, event_name: &'static str) {
        let size = tokio::fs::metadata(self.root.join(&bucket).join(&key)).await.map(|m| m.len()).unwrap_or(0);
        let object = CreatedObject {
            bucket,
            key,
            size,
            etag: etag.map(|e| e.value().to_owned()).unwrap_or_default(),
            event_name,
        };
        let notifications = self.notifications.clone();
        tokio::spawn(async move { notifications.object_created(object).await });
    }
}

/// Hands operations to `s3s-fs` unchanged. Written in the form `#[async_trait]` expands to,
/// because the attribute cannot see into a macro's output.
macro_rules! delegate {
    ($($op:ident($input:ty) -> $output:ty;)*) => {$(
        fn $op<'a, 'fut>(
            &'a self,
            req: S3Request<$input>,
        ) -> Pin<Box<dyn Future<Output = S3Result<S3Response<$output>>> + Send + 'fut>>
        where
            'a: 'fut,
            Self: 'fut,
        {
            self.fs.$op(req)
        }
    )*};
}

#[async_trait::async_trait]
impl S3 for SandboxS3 {
    delegate! {
        create_bucket(CreateBucketInput) -> CreateBucketOutput;
        delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
        head_bucket(HeadBucketInput) -> HeadBucketOutput;
        list_buckets(ListBucketsInput) -> ListBucketsOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
        get_object(GetObjectInput) -> GetObjectOutput;
        head_object(HeadObjectInput) -> HeadObjectOutput;
        delete_object(DeleteObjectInput) -> DeleteObjectOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
        upload_part(UploadPartInput) -> UploadPartOutput;
        upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
        list_parts(ListPartsInput) -> ListPartsOutput;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let resp = self.fs.put_object(req).await?;
        self.created(bucket, key, resp.output.e_tag.as_ref(), "ObjectCreated:Put").await;
        Ok(resp)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let resp = self.fs.copy_object(req).await?;
        let etag = resp.output.copy_object_result.as_ref().and_then(|r| r.e_tag.as_ref());
        self.created(bucket, key, etag, "ObjectCreated:Copy").await;
        Ok(resp)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let resp = self.fs.complete_multipart_upload(req).await?;
        self.created(bucket, key, resp.output.e_tag.as_ref(), "ObjectCreated:CompleteMultipartUpload").await;
        Ok(resp)
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        if !self.root.join(&input.bucket).is_dir() {
            return Err(s3s::s3_error!(NoSuchBucket));
        }
        if let Err(message) = self.notifications.validate(&input.notification_configuration) {
            return Err(s3s::S3Error::with_message(s3s::S3ErrorCode::InvalidArgument, message));
        }
        self.notifications.set(&input.bucket, input.notification_configuration);
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput::default()))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        if !self.root.join(&req.input.bucket).is_dir() {
            return Err(s3s::s3_error!(NoSuchBucket));
        }
        let config = self.notifications.get(&req.input.bucket);
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: config.event_bridge_configuration,
            lambda_function_configurations: config.lambda_function_configurations,
            queue_configurations: config.queue_configurations,
            topic_configurations: config.topic_configurations,
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let url = wants_url_encoding(req.input.encoding_type.as_ref());
        let mut resp = self.fs.list_objects(req).await?;
        if url {
            let out = &mut resp.output;
            for field in [&mut out.prefix, &mut out.delimiter, &mut out.marker, &mut out.next_marker] {
                encode_field(field);
            }
            encode_listing(out.contents.as_deref_mut(), out.common_prefixes.as_deref_mut());
            out.encoding_type = Some(EncodingType::from_static(EncodingType::URL));
        }
        Ok(resp)
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let url = wants_url_encoding(req.input.encoding_type.as_ref());
        let mut resp = self.fs.list_objects_v2(req).await?;
        if url {
            let out = &mut resp.output;
            for field in [&mut out.prefix, &mut out.delimiter, &mut out.start_after] {
                encode_field(field);
            }
            encode_listing(out.contents.as_deref_mut(), out.common_prefixes.as_deref_mut());
            out.encoding_type = Some(EncodingType::from_static(EncodingType::URL));
        }
        Ok(resp)
    }
}

fn wants_url_encoding(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str() == EncodingType::URL)
}

fn encode_field(field: &mut Option<String>) {
    if let Some(value) = field {
        *value = url_encode(value);
    }
}

fn encode_listing(contents: Option<&mut [Object]>, prefixes: Option<&mut [CommonPrefix]>) {
    for object in contents.unwrap_or_default() {
        encode_field(&mut object.key);
    }
    for prefix in prefixes.unwrap_or_default() {
        encode_field(&mut prefix.prefix);
    }
}

/// S3's `encoding-type=url`: form encoding (space as `+`) that keeps `/` and the unreserved
/// characters as they are.
fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::url_encode;

    #[test]
    fn url_encoding_matches_what_s3_sends() {
        assert_eq!(url_encode("p/a+b c%d ü.txt"), "p/a%2Bb+c%25d+%C3%BC.txt");
        assert_eq!(url_encode("Missouri Open Loop sample output/"), "Missouri+Open+Loop+sample+output/");
        assert_eq!(url_encode("plain-key_1.~"), "plain-key_1.~");
    }
}
