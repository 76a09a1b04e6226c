//! The parity harness's plant: the queues (a Redis list, an SQS queue in moto) behind one
//! interface, the worker pool sized by the ECS desired count with the plant's start-up delay
//! and service time, the generator that sends the plant's arrivals, and the desired-count
//! watcher.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stepscale_sim::dist::Duration as Dist;
use stepscale_sim::rng::SimRng;
use stepscale_sim::Scenario;
use tokio::sync::watch;

use super::{now_s, support};

/// What went wrong in the harness's own background tasks (workers, acknowledgements, the
/// desired-count watcher). A panic there would end the task silently and show only as a
/// parity gap; the test fails on these first, naming them.
pub(super) static FAULTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

pub(super) fn fault(what: &str, e: impl std::fmt::Display) {
    if let Ok(mut faults) = FAULTS.lock() {
        faults.push(format!("{what}: {e}"));
    }
}

/// Round trips to a queue, measured on the acknowledgements (Redis `LREM`, SQS
/// `DeleteMessage`): plain calls that never wait for an arrival, unlike a take. Reported with
/// the figures; the SQS mean also times each delete (see [`Latency::lead`]).
pub(super) struct Latency {
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

    pub(super) fn mean_ms(&self) -> f64 {
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
pub(super) static ARRIVED: std::sync::Mutex<BTreeMap<String, Instant>> =
    std::sync::Mutex::new(BTreeMap::new());

/// When `body`'s send returned, waiting (up to 5 s) for the generator to note it: a take can
/// return before the send's own response does.
pub(super) async fn arrived(body: &str) -> Option<Instant> {
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

pub(super) static SQS_ROUND_TRIP: Latency = Latency::new();
pub(super) static REDIS_ROUND_TRIP: Latency = Latency::new();

/// A queue the pool drains and the generator feeds.
#[derive(Clone)]
pub(super) enum Queue {
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
pub(super) async fn work_until(
    free: Instant,
    body: &str,
    service: Dist,
    rng: &mut SimRng,
) -> Option<Instant> {
    let start = free.max(arrived(body).await?);
    let work = Duration::from_secs_f64(service.sample_secs(rng));
    Some(start.checked_add(work).unwrap_or(start))
}

/// A worker task of the pool: starting (until its start-up delay has passed) or running.
pub(super) struct Worker {
    stop: Arc<AtomicBool>,
    ready_at: Instant,
}

/// When each task of a pool is (or was) ready, for ECS's running and pending counts.
pub(super) type Fleet = Arc<std::sync::Mutex<Vec<Instant>>>;

/// Keeps as many workers as the service's desired count, as ECS would: a new worker works
/// only after `startup`; a scale-in stops the newest starting workers first, then the newest
/// running ones, each finishing the message it holds. With `fleet`, publishes when each
/// worker it keeps is ready (a stopped one leaves at once).
pub(super) async fn pool(
    queue: Queue,
    service: Dist,
    startup: Dist,
    mut desired: watch::Receiver<u32>,
    done: Arc<AtomicBool>,
    seed: u64,
    fleet: Option<Fleet>,
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
        if let Some(f) = &fleet {
            if let Ok(mut ready) = f.lock() {
                *ready = workers.iter().map(|w| w.ready_at).collect();
            }
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
pub(super) async fn generate(
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

/// Starts `stepscale run --period-secs 1 --record` on `case` against moto and Redis, its
/// state in `state` and its log in the case's log file, with `env` on top.
pub(super) fn start_run(case: &Case, state: &Path, env: &[(&str, &str)]) -> Child {
    std::fs::create_dir_all(state).expect("state folder");
    let log = std::fs::File::create(&case.log).expect("log file");
    let redis = support::redis_url();
    let mut all = vec![("REDIS_URL", redis.as_str())];
    all.extend_from_slice(env);
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
        &all,
    );
    cmd.stderr(std::process::Stdio::from(log));
    cmd.spawn().expect("stepscale run starts")
}

/// Waits (up to 60 s) until every run has recorded its first decision; fails naming the runs'
/// logs if one has not.
pub(super) async fn first_decisions(runs: &[&Case]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs.iter().any(|c| data_rows(&c.record) == 0) {
        assert!(
            Instant::now() < deadline,
            "a `stepscale run` made no decision in 60 s; logs: {}",
            runs.iter()
                .map(|c| format!(
                    "{}: {}",
                    c.name,
                    std::fs::read_to_string(&c.log).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends each run's arrivals (its scenario's, for `seconds`, from a tick of its run), then
/// stops every `stepscale run` and checks that each exited cleanly.
pub(super) async fn generate_then_stop(
    runs: &[(&Case, &Scenario)],
    children: &mut [Child],
    seconds: u64,
) {
    let generators: Vec<_> = runs
        .iter()
        .map(|(c, scenario)| {
            tokio::spawn(generate(
                c.queue.clone(),
                c.name.clone(),
                (*scenario).clone(),
                seconds,
                c.arrivals.clone(),
                tick_aligned_start(&c.record),
            ))
        })
        .collect();
    for g in generators {
        g.await.expect("the generator finished");
    }
    for child in children.iter() {
        terminate(child);
    }
    for ((case, _), child) in runs.iter().zip(children.iter_mut()) {
        let status = child.wait().expect("stepscale run exits");
        assert!(
            status.success(),
            "{}: stepscale run exited with {status}; log:\n{}",
            case.name,
            std::fs::read_to_string(&case.log).unwrap_or_default()
        );
    }
}

/// When a generator for the run that writes `record` starts: on a tick of that run (its
/// first row's time plus whole 1 s periods), at least 0.2 s from now.
pub(super) fn tick_aligned_start(record: &Path) -> Instant {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let first = text
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .and_then(|t| {
            stepscale_sim::timefmt::parse(t, stepscale_sim::timefmt::TimeFormat::DateTime).ok()
        })
        .expect("the record's first row has a time") as f64
        / 1e6;
    let now = now_s();
    let at = first + (now - first + 0.2).ceil();
    Instant::now() + Duration::from_secs_f64((at - now).max(0.0))
}

/// One service under test: its queue, its ECS service, its policy and its files.
pub(super) struct Case {
    pub(super) name: String,
    pub(super) service: String,
    pub(super) queue: Queue,
    pub(super) policy: PathBuf,
    pub(super) record: PathBuf,
    pub(super) arrivals: PathBuf,
    pub(super) log: PathBuf,
}

pub(super) fn redis_section(key: &str, processing: &str) -> String {
    let (host, port) = support::redis_address();
    format!(
        "[[queues]]\ntype = \"redis\"\nhost = \"{host}\"\nport = {port}\nqueue_key = \"{key}\"\nprocessing_key = \"{processing}\"\n# Redis deletes a drained list.\nmissing_key_is_empty = true\n"
    )
}

pub(super) fn sqs_section(url: &str) -> String {
    // moto publishes no SQS metrics in CloudWatch: the counts alone, as with the API.
    format!("[[queues]]\ntype = \"sqs\"\nqueue_url = \"{url}\"\ncloudwatch_metrics = false\n")
}

/// Reads every service's desired count (one DescribeServices call, as often as every 20 ms)
/// into its channel, until `done`.
pub(super) async fn watch_desired(
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

pub(super) fn data_rows(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count().saturating_sub(1))
}

pub(super) fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}
