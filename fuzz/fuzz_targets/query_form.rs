//! The query protocol's form bodies (`services::query::Form`) as STS and SNS decode them into
//! every action's typed input, and the actions themselves on a store in a temp dir.
//!
//! Input: the URL query, a newline, the form body.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sandbox::error::AwsError;
use sandbox::identity::{Caller, Identities};
use sandbox::services::query::{self, Form};
use sandbox::services::sns::Sns;
use sandbox::services::sqs::Sqs;
use sandbox::services::sts::{Lifetimes, Sts};
use sandbox::state::{Durability, Store};

struct World {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    sns: Sns,
    sts: Sts,
    caller: Caller,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(dir.path(), Durability::Process).expect("store"));
        let sqs = Arc::new(Sqs::open(store.clone()).expect("sqs"));
        let sns = Sns::open(store.clone(), sqs, "http://127.0.0.1:4566").expect("sns");
        let keys = sandbox::keys::LongTermKeys::well_known();
        let identities = Arc::new(Identities::load(store, dir.path(), false, keys).expect("identities"));
        let caller = identities.authenticate("test", None).expect("the long-term key");
        let mfa = sandbox::mfa::MfaDevice::new(sandbox::mfa::DEFAULT_MFA_SECRET).expect("device");
        let sts = Sts::new(identities, mfa, Lifetimes { min: 900 });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        World { _dir: dir, runtime, sns, sts, caller }
    })
}

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let query = String::from_utf8_lossy(query);
    let form = Form::new(&query, body);
    let _ = form.action();
    if let Ok(params) = form.decode::<BTreeMap<String, String>>(|m| AwsError::new("Invalid", 400, m)) {
        let _ = query::entries(&params, "Attributes", "key", "value");
        let _ = query::entries(&params, "MessageAttributes", "Name", "Value.StringValue");
    }
    let world = world();
    let _guard = world.runtime.enter();
    let _ = world.runtime.block_on(world.sns.handle(&form));
    let _ = world.sts.handle(&form, &world.caller);
});
