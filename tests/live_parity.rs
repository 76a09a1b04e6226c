//! The sim-live parity harness: a real worker pool drains a Redis list and an SQS queue (moto)
//! at the plant's service time, sized by the ECS desired count (moto) with the plant's
//! start-up delay; a generator sends the plant's ramp, spike and quiet; `stepscale run
//! --period-secs 1 --record` scales each pool; then `stepscale parity` replays each recorded
//! run through the simulator and the decisions are compared tick by tick.
//!
//! The plant does not depend on how fast the broker answers: a worker's work on a message starts
//! when the worker became free or when the generator's send of it returned, whichever is later
//! (as the simulator starts it), however long the take itself took; an SQS delete is sent early by
//! the delete round trip measured so far, so the message leaves when its work ends; and the
//! generator sends only inside [`stepscale_sim::synth::SEND_WINDOW`], so a tick's read that
//! returns late still sees the same messages as the replay's. Run beside a CPU hog on every
//! core (sim/README.md, "Does the backtest predict the live run?") it keeps its goals.
//!
//! Every shipped policy kind runs on both queues at once (8 services, one process each), so
//! the whole harness takes the plant's duration (4 minutes) plus about 20 s. Its figures are
//! printed (`cargo test --test live_parity -- --nocapture`) and each run's parity.csv,
//! parity.json and parity.png are left in `$CARGO_TARGET_DIR/tmp/parity/NAME/parity/`, beside the live run's
//! record, arrivals log, policy and log in `…/parity/NAME/live/` (or under
//! `$STEPSCALE_PARITY_OUT`).
#![cfg(all(feature = "redis", feature = "sqs"))]

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stepscale_sim::dist::Duration as Dist;
use stepscale_sim::rng::SimRng;
use stepscale_sim::Scenario;
use tokio::sync::watch;

const KINDS: [&str; 4] = ["seed", "step", "target", "slo"];
/// The goals of the parity check.
const MIN_SAME_ACTION: f64 = 0.95;
const MAX_DESIRED_GAP: u64 = 1;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What went wrong in the harness's own background tasks (workers, acknowledgements, the
/// desired-count watcher). A panic there would end the task silently and show only as a
/// parity gap; the test fails on these first, naming them.
static FAULTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn fault(what: &str, e: impl std::fmt::Display) {
    if let Ok(mut faults) = FAULTS.lock() {
        faults.push(format!("{what}: {e}"));
    }
}

/// Round trips to a queue, measured on the acknowledgements (Redis `LREM`, SQS
/// `DeleteMessage`): plain calls that never wait for an arrival, unlike a take. Reported with
/// the figures; the SQS mean also times each delete (see [`Latency::lead`]).
struct Latency {
    micros: std::sync::atomic::AtomicU64,
    count: std::sync::atomic::AtomicU64,
}

impl Latency {
    const fn new() -> Self {
        Self {
            micros: std::sync::atomic::AtomicU64::new(0),
            count: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn mean_ms(&self) -> f64 {
        let n = self.count.load(Ordering::Relaxed).max(1);
        self.micros.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0
    }

    /// How early to send an acknowledgement so that it lands when the work ends: the mean round
    /// trip so far, at most 400 ms (well inside the 1 s service time).
    fn lead(&self) -> Duration {
        Duration::from_secs_f64((self.mean_ms() / 1000.0).min(0.4))
    }
}

/// When each message's send returned (the time its arrivals log line gives), by body. A worker
/// counts its work from this, not from when its take returned, so the broker's latency is not
/// part of the plant.
static ARRIVED: std::sync::Mutex<BTreeMap<String, Instant>> =
    std::sync::Mutex::new(BTreeMap::new());

/// When `body`'s send returned, waiting (up to 5 s) for the generator to note it: a take can
/// return before the send's own response does.
async fn arrived(body: &str) -> Option<Instant> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(at) = ARRIVED.lock().ok().and_then(|m| m.get(body).copied()) {
            return Some(at);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

static SQS_ROUND_TRIP: Latency = Latency::new();
static REDIS_ROUND_TRIP: Latency = Latency::new();

/// A queue the pool drains and the generator feeds.
#[derive(Clone)]
enum Queue {
    /// A Redis list; a worker moves an item to `processing` while it works on it.
    Redis {
        client: redis::Client,
        key: String,
        processing: String,
    },
    /// An SQS queue in moto; a message is in flight between its receive and its delete.
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

impl Queue {
    async fn send(&self, conn: &mut Option<redis::aio::MultiplexedConnection>, body: &str) {
        match self {
            Self::Redis { client, key, .. } => {
                if conn.is_none() {
                    *conn = Some(
                        client
                            .get_multiplexed_async_connection()
                            .await
                            .expect("Redis answers"),
                    );
                }
                if let Some(c) = conn.as_mut() {
                    let _: i64 = redis::cmd("RPUSH")
                        .arg(key)
                        .arg(body)
                        .query_async(c)
                        .await
                        .expect("RPUSH");
                }
            }
            Self::Sqs { client, url } => {
                client
                    .send_message()
                    .queue_url(url)
                    .message_body(body)
                    .send()
                    .await
                    .expect("moto answers SendMessage");
            }
        }
    }

    /// One worker: takes a message, works on it for a draw of `service`, acknowledges it;
    /// stops between messages once `stop` is set (ECS drains a stopped task). Its work on a
    /// message runs from [`work_until`]'s start, so its cycle is the service time whatever
    /// the broker's round trips cost.
    async fn work(self, service: Dist, seed: u64, stop: Arc<AtomicBool>) {
        let mut rng = SimRng::new(seed);
        // When the worker is next free: now (it has just become ready), then each work's end.
        let mut free = Instant::now();
        match self {
            Self::Redis {
                client,
                key,
                processing,
            } => {
                // Its own connection: a blocking move holds the connection it runs on.
                let mut conn = match client.get_multiplexed_async_connection().await {
                    Ok(c) => c,
                    Err(e) => return fault("a Redis worker's connection", e),
                };
                while !stop.load(Ordering::Relaxed) {
                    let taken = redis::cmd("BLMOVE")
                        .arg(&key)
                        .arg(&processing)
                        .arg("LEFT")
                        .arg("RIGHT")
                        .arg(0.1)
                        .query_async::<Option<String>>(&mut conn)
                        .await;
                    let item = match taken {
                        Ok(item) => item,
                        Err(e) => return fault("a Redis worker's BLMOVE", e),
                    };
                    let Some(item) = item else {
                        continue;
                    };
                    let Some(until) = work_until(free, &item, service, &mut rng).await else {
                        return fault("a Redis worker", format!("no send noted for {item}"));
                    };
                    tokio::time::sleep_until(until.into()).await;
                    free = until;
                    let asked = Instant::now();
                    let acked = redis::cmd("LREM")
                        .arg(&processing)
                        .arg(1)
                        .arg(&item)
                        .query_async::<i64>(&mut conn)
                        .await;
                    if let Err(e) = acked {
                        return fault("a Redis worker's LREM", e);
                    }
                    REDIS_ROUND_TRIP.record(asked.elapsed());
                }
            }
            Self::Sqs { client, url } => {
                while !stop.load(Ordering::Relaxed) {
                    // Asked one round trip before the worker is free, so the next message
                    // leaves the visible count about when the simulator's worker takes it.
                    let ask_at = free.checked_sub(SQS_ROUND_TRIP.lead()).unwrap_or(free);
                    tokio::time::sleep_until(ask_at.into()).await;
                    let received = client
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(1)
                        .wait_time_seconds(1)
                        .send()
                        .await;
                    let out = match received {
                        Ok(out) => out,
                        Err(e) => return fault("an SQS worker's ReceiveMessage", e),
                    };
                    for m in out.messages() {
                        let body = m.body().unwrap_or_default();
                        let Some(until) = work_until(free, body, service, &mut rng).await else {
                            return fault("an SQS worker", format!("no send noted for {body}"));
                        };
                        // The delete goes out one round trip before the work ends, so the
                        // message leaves the in-flight count when the simulator's does; the
                        // worker's cycle does not wait for it.
                        let (client, url) = (client.clone(), url.clone());
                        let handle = m.receipt_handle().unwrap_or_default().to_string();
                        let send_at = until.checked_sub(SQS_ROUND_TRIP.lead()).unwrap_or(until);
                        tokio::spawn(async move {
                            tokio::time::sleep_until(send_at.into()).await;
                            let asked = Instant::now();
                            let deleted = client
                                .delete_message()
                                .queue_url(url)
                                .receipt_handle(handle)
                                .send()
                                .await;
                            match deleted {
                                Ok(_) => SQS_ROUND_TRIP.record(asked.elapsed()),
                                Err(e) => fault("an SQS worker's DeleteMessage", e),
                            }
                        });
                        free = until;
                    }
                }
            }
        }
    }
}

/// When a worker's work on `body`, taken when it was free from `free`, ends: the work starts
/// when the worker became free or when the message's send returned, whichever is later (as the
/// simulator starts a message), and lasts a draw of `service`. The take's own round trip is
/// not part of it. `None` when the generator never noted the message.
async fn work_until(free: Instant, body: &str, service: Dist, rng: &mut SimRng) -> Option<Instant> {
    let start = free.max(arrived(body).await?);
    let work = Duration::from_secs_f64(service.sample_secs(rng));
    Some(start.checked_add(work).unwrap_or(start))
}

/// A worker task of the pool: starting (until its start-up delay has passed) or running.
struct Worker {
    stop: Arc<AtomicBool>,
    ready_at: Instant,
}

/// Keeps as many workers as the service's desired count, as ECS would: a new worker works
/// only after `startup`; a scale-in stops the newest starting workers first, then the newest
/// running ones, each finishing the message it holds.
async fn pool(
    queue: Queue,
    service: Dist,
    startup: Dist,
    mut desired: watch::Receiver<u32>,
    done: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = SimRng::new(seed);
    let mut workers: Vec<Worker> = Vec::new();
    let mut launched = 0u64;
    // The tasks the service has when the pool starts are running already, as in the simulator.
    let mut running_at_start = *desired.borrow() as usize;
    while !done.load(Ordering::Relaxed) {
        let want = *desired.borrow_and_update() as usize;
        while workers.len() < want {
            let stop = Arc::new(AtomicBool::new(false));
            let delay = if running_at_start > 0 {
                running_at_start -= 1;
                Duration::ZERO
            } else {
                Duration::from_secs_f64(startup.sample_secs(&mut rng))
            };
            launched += 1;
            let (q, s, st) = (queue.clone(), service, Arc::clone(&stop));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if !st.load(Ordering::Relaxed) {
                    q.work(s, seed ^ launched, st).await;
                }
            });
            workers.push(Worker {
                stop,
                ready_at: Instant::now() + delay,
            });
        }
        while workers.len() > want {
            let now = Instant::now();
            let pick = workers
                .iter()
                .rposition(|w| w.ready_at > now)
                .unwrap_or(workers.len() - 1);
            workers.remove(pick).stop.store(true, Ordering::Relaxed);
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), desired.changed()).await;
    }
    for w in workers {
        w.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends the plant's synthetic arrivals to `queue` for `seconds` from `t0` on
/// [`stepscale_sim::synth::even_send_times`]'s schedule; logs each message's time, once it is
/// in the queue, to `log`, and notes it in [`ARRIVED`] under its body (`NAME-mN`). With `t0` on
/// a tick, no message is sent within 150 ms after a tick or 50 ms before one, so which side of a
/// tick a message lands on is not left to the broker's latency.
async fn generate(
    queue: Queue,
    name: String,
    scenario: Scenario,
    seconds: u64,
    log: PathBuf,
    t0: Instant,
) {
    let mut conn = None;
    let mut text = String::from("time\n");
    let sends = stepscale_sim::synth::even_send_times(&scenario.arrivals.synthetic, seconds);
    for (n, at) in sends.into_iter().enumerate() {
        tokio::time::sleep_until((t0 + Duration::from_secs_f64(at)).into()).await;
        let sent = Instant::now();
        let body = format!("{name}-m{n}");
        queue.send(&mut conn, &body).await;
        let returned = Instant::now();
        if sent.elapsed() > Duration::from_millis(250) {
            eprintln!(
                "generator: a send at {at:.3} s took {:?} (the replay sees the logged time)",
                sent.elapsed()
            );
        }
        let _ = writeln!(text, "{:.6}", now_s());
        if let Ok(mut arrived) = ARRIVED.lock() {
            arrived.insert(body, returned);
        }
    }
    tokio::time::sleep_until((t0 + Duration::from_secs(seconds)).into()).await;
    std::fs::write(&log, text).expect("arrivals log written");
}

/// One service under test: its queue, its policy and its files.
struct Case {
    name: String,
    queue: Queue,
    policy: PathBuf,
    record: PathBuf,
    arrivals: PathBuf,
    log: PathBuf,
}

fn redis_section(key: &str, processing: &str) -> String {
    let (host, port) = support::redis_address();
    format!(
        "[[queues]]\ntype = \"redis\"\nhost = \"{host}\"\nport = {port}\nqueue_key = \"{key}\"\nprocessing_key = \"{processing}\"\n# Redis deletes a drained list.\nmissing_key_is_empty = true\n"
    )
}

fn sqs_section(url: &str) -> String {
    // moto publishes no SQS metrics in CloudWatch: the counts alone, as with the API.
    format!("[[queues]]\ntype = \"sqs\"\nqueue_url = \"{url}\"\ncloudwatch_metrics = false\n")
}

/// Reads every service's desired count (one DescribeServices call, as often as every 20 ms)
/// into its channel, until `done`.
async fn watch_desired(
    sdk: aws_config::SdkConfig,
    cluster: String,
    senders: BTreeMap<String, watch::Sender<u32>>,
    done: Arc<AtomicBool>,
) {
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let names: Vec<String> = senders.keys().cloned().collect();
    while !done.load(Ordering::Relaxed) {
        let described = ecs
            .describe_services()
            .cluster(&cluster)
            .set_services(Some(names.clone()))
            .send()
            .await;
        let out = match described {
            Ok(out) => out,
            Err(e) => return fault("the desired-count watcher's DescribeServices", e),
        };
        for s in out.services() {
            let Some(tx) = s.service_name().and_then(|n| senders.get(n)) else {
                continue;
            };
            let Ok(d) = u32::try_from(s.desired_count()) else {
                return fault(
                    "the desired-count watcher",
                    format!(
                        "desired count {} for {:?}",
                        s.desired_count(),
                        s.service_name()
                    ),
                );
            };
            tx.send_if_modified(|v| {
                let changed = *v != d;
                *v = d;
                changed
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn data_rows(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count().saturating_sub(1))
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_policy_kind_behaves_live_as_its_backtest_said() {
    let plant_path = repo().join("tests/parity/plant.toml");
    let scenario = Scenario::load(&plant_path).expect("the plant scenario loads");
    let seconds = scenario.duration_secs.expect("the plant has a duration");
    let (service_time, startup) = (scenario.plant.service_time, scenario.plant.startup);
    let out_root = std::env::var_os("STEPSCALE_PARITY_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("parity"),
        PathBuf::from,
    );
    let work = tempfile::tempdir().expect("a temporary folder");
    let sdk = support::aws::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let redis_client = redis::Client::open(support::redis_url()).expect("REDIS_URL");

    let mut cases = Vec::new();
    for kind in KINDS {
        for queue_kind in ["redis", "sqs"] {
            let name = format!("{kind}-{queue_kind}");
            let service = support::unique(&format!("parity-{name}"));
            let (queue, section) = if queue_kind == "redis" {
                let key = support::unique(&format!("stepscale-parity:{name}"));
                let processing = format!("{key}:processing");
                (
                    Queue::Redis {
                        client: redis_client.clone(),
                        key: key.clone(),
                        processing: processing.clone(),
                    },
                    redis_section(&key, &processing),
                )
            } else {
                let url = sqs
                    .create_queue()
                    .queue_name(support::unique(&format!("parity-{name}")))
                    .attributes(
                        aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                        "30",
                    )
                    .send()
                    .await
                    .expect("moto answers CreateQueue")
                    .queue_url()
                    .unwrap_or_default()
                    .to_string();
                (
                    Queue::Sqs {
                        client: sqs.clone(),
                        url: url.clone(),
                    },
                    sqs_section(&url),
                )
            };
            cases.push((name, service, queue, section, kind));
        }
    }
    let names: Vec<String> = cases.iter().map(|c| c.1.clone()).collect();
    let cluster = support::aws::ecs_services(&sdk, &names, 1).await;

    let done = Arc::new(AtomicBool::new(false));
    let mut senders = BTreeMap::new();
    let mut runs: Vec<(Case, Child)> = Vec::new();
    for (i, (name, service, queue, section, kind)) in cases.into_iter().enumerate() {
        let body =
            std::fs::read_to_string(repo().join(format!("tests/parity/policies/{kind}.toml")))
                .expect("the policy is shipped");
        let policy = work.path().join(format!("{name}.toml"));
        std::fs::write(
            &policy,
            format!(
                "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n\n{section}\n{body}"
            ),
        )
        .expect("policy written");
        let (tx, rx) = watch::channel(1);
        senders.insert(service.clone(), tx);
        tokio::spawn(pool(
            queue.clone(),
            service_time,
            startup,
            rx,
            Arc::clone(&done),
            1000 + i as u64,
        ));
        let case = Case {
            record: work.path().join(format!("{name}.record.csv")),
            arrivals: work.path().join(format!("{name}.arrivals.csv")),
            log: work.path().join(format!("{name}.log")),
            name,
            queue,
            policy,
        };
        let state = work.path().join(format!("{}-state", case.name));
        std::fs::create_dir_all(&state).expect("state folder");
        let log = std::fs::File::create(&case.log).expect("log file");
        let mut cmd = support::live_run::stepscale(
            &[
                "--policy",
                case.policy.to_str().unwrap_or_default(),
                "--period-secs",
                "1",
                "--record",
                case.record.to_str().unwrap_or_default(),
                "--state-dir",
                state.to_str().unwrap_or_default(),
            ],
            &[("REDIS_URL", &support::redis_url())],
        );
        cmd.stderr(Stdio::from(log));
        let child = cmd.spawn().expect("stepscale run starts");
        runs.push((case, child));
    }
    tokio::spawn(watch_desired(
        sdk.clone(),
        cluster.clone(),
        senders,
        Arc::clone(&done),
    ));

    // The generators start once every run has made its first decision.
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs.iter().any(|(c, _)| data_rows(&c.record) == 0) {
        assert!(
            Instant::now() < deadline,
            "a `stepscale run` made no decision in 60 s; logs: {}",
            runs.iter()
                .map(|(c, _)| format!(
                    "{}: {}",
                    c.name,
                    std::fs::read_to_string(&c.log).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // How late this test's own timers run: a stalled harness is a harness fault, not a
    // policy's, and a failure message says how late they ran.
    let lag = Arc::new(std::sync::Mutex::new((Duration::ZERO, 0.0_f64)));
    let lag_done = Arc::new(AtomicBool::new(false));
    {
        let (lag, lag_done) = (Arc::clone(&lag), Arc::clone(&lag_done));
        let t0 = Instant::now();
        tokio::spawn(async move {
            while !lag_done.load(Ordering::Relaxed) {
                let asked = Instant::now();
                tokio::time::sleep(Duration::from_millis(10)).await;
                let late = asked.elapsed().saturating_sub(Duration::from_millis(10));
                if let Ok(mut l) = lag.lock() {
                    if late > l.0 {
                        *l = (late, t0.elapsed().as_secs_f64());
                    }
                }
            }
        });
    }
    // Each generator starts on a tick of its run: the first tick's time plus whole periods.
    let generators: Vec<_> = runs
        .iter()
        .map(|(c, _)| {
            let text = std::fs::read_to_string(&c.record).unwrap_or_default();
            let first = text
                .lines()
                .nth(1)
                .and_then(|l| l.split(',').next())
                .and_then(|t| {
                    stepscale_sim::timefmt::parse(t, stepscale_sim::timefmt::TimeFormat::DateTime)
                        .ok()
                })
                .expect("the record's first row has a time") as f64
                / 1e6;
            let now = now_s();
            let at = first + (now - first + 0.2).ceil();
            let t0 = Instant::now() + Duration::from_secs_f64((at - now).max(0.0));
            tokio::spawn(generate(
                c.queue.clone(),
                c.name.clone(),
                scenario.clone(),
                seconds,
                c.arrivals.clone(),
                t0,
            ))
        })
        .collect();
    for g in generators {
        g.await.expect("the generator finished");
    }
    for (_, child) in &runs {
        terminate(child);
    }
    for (case, child) in &mut runs {
        let status = child.wait().expect("stepscale run exits");
        assert!(
            status.success(),
            "{}: stepscale run exited with {status}; log:\n{}",
            case.name,
            std::fs::read_to_string(&case.log).unwrap_or_default()
        );
    }
    done.store(true, Ordering::Relaxed);
    lag_done.store(true, Ordering::Relaxed);
    let (late, late_at) = lag.lock().map(|l| *l).unwrap_or_default();
    let lateness = format!("harness timers: at most {late:?} late (at {late_at:.1} s)");
    println!("{lateness}");
    let faults = FAULTS.lock().map(|f| f.clone()).unwrap_or_default();
    assert!(
        faults.is_empty(),
        "the harness itself failed, so the runs do not show the policies:\n{}",
        faults.join("\n")
    );
    println!(
        "a round trip to the queue: Redis LREM {:.2} ms, SQS DeleteMessage on moto {:.2} ms (mean)",
        REDIS_ROUND_TRIP.mean_ms(),
        SQS_ROUND_TRIP.mean_ms()
    );

    let mut failures = Vec::new();
    println!("| policy | queue | ticks | same action | largest desired gap | scale-outs live/sim | scale-ins live/sim | mean backlog gap |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (case, _) in &runs {
        let out = out_root.join(&case.name).join("parity");
        let kept = out_root.join(&case.name).join("live");
        let status = Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args(["parity", "--scenario"])
            .arg(&plant_path)
            .arg("--policy")
            .arg(&case.policy)
            .arg("--record")
            .arg(&case.record)
            .arg("--arrivals")
            .arg(&case.arrivals)
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("stepscale parity runs");
        assert!(status.success(), "{}: stepscale parity failed", case.name);
        // Keep what the live run wrote beside the figures, for a look at a failure.
        std::fs::create_dir_all(&kept).expect("a folder for the live run's files");
        for f in [&case.record, &case.arrivals, &case.policy, &case.log] {
            let _ = std::fs::copy(f, kept.join(f.file_name().unwrap_or_default()));
        }
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("parity.json")).expect("parity.json written"),
        )
        .expect("parity.json is JSON");
        let share = report["same_action_share"].as_f64().unwrap_or(0.0);
        let gap = report["max_desired_gap"].as_u64().unwrap_or(u64::MAX);
        let ticks = report["ticks"].as_u64().unwrap_or(0);
        let (kind, queue) = case.name.split_once('-').unwrap_or((&case.name, ""));
        println!(
            "| {kind} | {queue} | {ticks} | {:.1} % | {gap} | {}/{} | {}/{} | {:.2} |",
            share * 100.0,
            report["live_scale_out"],
            report["sim_scale_out"],
            report["live_scale_in"],
            report["sim_scale_in"],
            report["mean_backlog_gap"].as_f64().unwrap_or(f64::NAN),
        );
        if ticks < seconds * 9 / 10 || share < MIN_SAME_ACTION || gap > MAX_DESIRED_GAP {
            failures.push(format!(
                "{}: {ticks} ticks, {:.1} % same action, desired gap {gap} (see {})",
                case.name,
                share * 100.0,
                out.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "parity goals ({} % same action, desired within ±{MAX_DESIRED_GAP}) missed:\n{}\n({lateness})",
        MIN_SAME_ACTION * 100.0,
        failures.join("\n")
    );
}
