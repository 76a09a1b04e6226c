//! `stepscale calibrate --record s3://bucket/prefix/` against moto's S3: the Lambda's day
//! objects of one service, read in order, give the same fit as the same rows in one local file.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const RECORD: &str = "scenarios/records/parity-slo-redis.record.csv";
const ARRIVALS: &str = "scenarios/records/parity-slo-redis.arrivals.csv";
const POLICY: &str = "scenarios/records/parity-slo-redis.toml";

fn calibrate(record: &str, out: &std::path::Path) -> Output {
    support::aws::at_moto(
        Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args(["calibrate", "--record", record, "--arrivals", ARRIVALS])
            .args(["--policy", POLICY, "--out"])
            .arg(out)
            .current_dir(root()),
    )
    .output()
    .expect("the stepscale binary runs")
}

fn fitted(dir: &std::path::Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap())
            .unwrap();
    v["fitted"].clone()
}

#[tokio::test]
async fn day_objects_in_s3_calibrate_as_the_same_rows_in_one_file() {
    let sdk = support::aws::sdk().await;
    let bucket = support::aws::bucket(&sdk).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    // The record split in two "days", each with the header, as the Lambda writes them; and
    // objects calibrate must leave alone.
    let text = std::fs::read_to_string(root().join(RECORD)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (header, rows) = (lines[0], &lines[1..]);
    let half = rows.len() / 2;
    let put = |key: String, body: String| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(body.into_bytes().into())
                .send()
                .await
                .expect("moto answers PutObject");
        }
    };
    let base = "records/cluster/worker";
    put(
        format!("{base}/2026-12-07.csv"),
        format!("{header}\n{}\n", rows[..half].join("\n")),
    )
    .await;
    put(
        format!("{base}/2026-12-08.csv"),
        format!("{header}\n{}\n", rows[half..].join("\n")),
    )
    .await;
    put(format!("{base}/notes.txt"), "not a record".into()).await;
    put(format!("{base}/old/2026-01-01.csv"), "time\n".into()).await;

    let tmp = tempfile::tempdir().unwrap();
    let from_s3 = tmp.path().join("s3");
    let o = calibrate(&format!("s3://{bucket}/{base}/"), &from_s3);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let local = tmp.path().join("local");
    let o = calibrate(RECORD, &local);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fitted(&from_s3), fitted(&local));
    let json = std::fs::read_to_string(from_s3.join("calibration.json")).unwrap();
    assert!(
        json.contains(&format!("s3://{bucket}/{base}/2026-12-08.csv")),
        "{json}"
    );
    // An empty folder is refused, naming what it needs.
    let o = calibrate(&format!("s3://{bucket}/nothing/"), &tmp.path().join("none"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("holds no .csv object"),
        "{err}"
    );
    assert!(!tmp.path().join("none").exists());
}
