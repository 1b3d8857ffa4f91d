//! Sending `advanced_inference_ingress`'s requests: from kaic to the Gateway's address, or from curl client pods
//! in kaic's namespace whose logs kaic reads (as `ai_inference` does), with the same batches either way: requests
//! steered through the steered pool's endpoint picker (`test-epp-endpoint-selection`), unsteered ones, requests
//! to the scored pool (whose picker decides by load), and, once the steered pool's picker is gone, requests that
//! must be refused.

use std::time::Duration;

use super::gateway::{self, Names};
use super::http;
use super::pool::{SCORED_HEADER, SELECTION_HEADER};
use super::scored_pool::SCORED_REQUESTS;
use super::traffic::{CONSECUTIVE_OK, PATH};

/// Requests steered to each member, to two members, and unsteered.
pub const PER_MEMBER: u32 = 10;
pub const TO_PAIR: u32 = 20;
pub const UNSTEERED: u32 = 30;
/// Consecutive answers without the picker (5xx, or 200) before kaic decides whether the pool failed closed.
pub const WITHOUT_PICKER: u32 = 5;

/// A model server of the pool: its name and pod IP.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub ip: String,
}

/// Where kaic sends from: itself to the Gateway's address, or a client pod in its namespace (curl) whose log it
/// reads, with why.
#[derive(Debug, Clone, PartialEq)]
pub enum Sender {
    Kaic(String),
    Pod { address: String, why: String },
}

impl Sender {
    /// The path in words, for reasons: `direct from kaic to …`, `from client pod … to … (why)`.
    pub fn describe(&self, names: &Names) -> String {
        match self {
            Self::Kaic(address) => format!("direct from kaic to {address}"),
            Self::Pod { address, why } => {
                format!("from client pod {} to {address} ({why})", client_name(names, "steer"))
            }
        }
    }
}

/// The name of a client pod of this class's Gateway, for `what` (steer, or nopicker).
pub fn client_name(names: &Names, what: &str) -> String {
    format!("kaic-{what}-{}", names.gateway.trim_start_matches("kaic-gateway-"))
}

/// Waits until [`CONSECUTIVE_OK`] unsteered completions in a row answer 200 (the data plane converges after the
/// status is written), within `serving`; else the last answer.
pub async fn until_serving(address: &str, host: &str, serving: Duration) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut in_a_row = 0;
    while in_a_row < CONSECUTIVE_OK {
        let r = completion(address, host, None).await;
        if r.status == 200 {
            in_a_row += 1;
            continue;
        }
        in_a_row = 0;
        if started.elapsed() > serving {
            let last = r.error.unwrap_or_else(|| format!("status {}", r.status));
            return Err(format!(
                "the Gateway at {address} did not answer 200 {CONSECUTIVE_OK} times in a row within {serving:?}; last: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// One completion through the Gateway at `address` to the steered pool, steered to the pods `select` names
/// (IPs, comma-separated) when given.
pub async fn completion(address: &str, host: &str, select: Option<&str>) -> http::Response {
    let headers: Vec<(&str, &str)> = select.map(|s| vec![(SELECTION_HEADER, s)]).unwrap_or_default();
    post(address, host, &headers).await
}

async fn post(address: &str, host: &str, headers: &[(&str, &str)]) -> http::Response {
    http::post(address, host, PATH, headers, &gateway::completion_body(), Duration::from_secs(10)).await
}

/// What kaic asked of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// The steered pool, its picker told to choose among these members.
    Steered(Vec<String>),
    /// The steered pool, its picker free to choose.
    Free,
    /// The scored pool, whose picker chooses by its members' load.
    Scored,
}

impl Ask {
    /// The members the picker was told to choose among (none: it was free, or it was the scored pool's).
    pub fn allowed(&self) -> &[String] {
        match self {
            Self::Steered(pods) => pods,
            _ => &[],
        }
    }

    /// The label of its lines in a client pod's log ([`parse_answers`] reads it back).
    fn label(&self) -> String {
        match self {
            Self::Steered(pods) => format!("steer:{}", pods.join(",")),
            Self::Free => "free".into(),
            Self::Scored => "scored".into(),
        }
    }
}

/// One request: what kaic asked, and who answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub ask: Ask,
    pub status: u16,
    pub answered_by: Option<String>,
    pub elapsed: Duration,
}

/// A batch of requests alike: what they ask, the request header that asks it, how many.
struct Batch {
    ask: Ask,
    header: Option<(&'static str, String)>,
    count: u32,
}

/// The batches [`steer`] sends and [`steer_script`] writes: [`PER_MEMBER`] steered to each member, [`TO_PAIR`] to
/// the first two, [`UNSTEERED`] without a header, [`SCORED_REQUESTS`] to the scored pool.
fn batches(members: &[Member]) -> Vec<Batch> {
    let mut batches: Vec<Batch> = members
        .iter()
        .map(|m| Batch {
            ask: Ask::Steered(vec![m.name.clone()]),
            header: Some((SELECTION_HEADER, m.ip.clone())),
            count: PER_MEMBER,
        })
        .collect();
    let pair = &members[..members.len().min(2)];
    let ips: Vec<&str> = pair.iter().map(|m| m.ip.as_str()).collect();
    batches.push(Batch {
        ask: Ask::Steered(pair.iter().map(|m| m.name.clone()).collect()),
        header: Some((SELECTION_HEADER, ips.join(","))),
        count: TO_PAIR,
    });
    batches.push(Batch { ask: Ask::Free, header: None, count: UNSTEERED });
    batches.push(Batch {
        ask: Ask::Scored,
        header: Some((SCORED_HEADER.0, SCORED_HEADER.1.to_string())),
        count: SCORED_REQUESTS,
    });
    batches
}

/// Sends [`batches`] from kaic, one request at a time.
pub async fn steer(address: &str, host: &str, members: &[Member]) -> Vec<Answer> {
    let mut answers = Vec::new();
    for batch in batches(members) {
        let headers: Vec<(&str, &str)> = batch.header.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for _ in 0..batch.count {
            let r = post(address, host, &headers).await;
            answers.push(Answer {
                ask: batch.ask.clone(),
                status: r.status,
                answered_by: r.headers.get(gateway::POD_HEADER).cloned(),
                elapsed: r.elapsed,
            });
        }
    }
    answers
}

/// How many of the last answers were 5xx, in a row.
pub fn refusals_at_end(statuses: &[u16]) -> u32 {
    statuses.iter().rev().take_while(|s| (500..=599).contains(*s)).count() as u32
}

/// The client pod's script for [`batches`]: wait (at most about `serving_s` seconds) for
/// [`CONSECUTIVE_OK`] answers in a row, then one line per request: `steer:POD[,POD] STATUS SECONDS [ANSWERED_BY]`,
/// `free …` for the unsteered, `scored …` for the scored pool's.
pub fn steer_script(address: &str, host: &str, members: &[Member], serving_s: u64) -> String {
    let mut script = format!(
        "B='{}'\nG='http://{address}{PATH}'\nH='Host: {host}'\n\
         req() {{ l=$1; shift; curl -s -o /dev/null -m 10 -w \"$l %{{http_code}} %{{time_total}} %header{{{}}}\\n\" \
         -H 'Content-Type: application/json' -H \"$H\" -d \"$B\" \"$@\" \"$G\" || true; }}\n\
         i=0; n=0; while [ $i -lt {serving_s} ] && [ $n -lt {CONSECUTIVE_OK} ]; do\n  \
         c=$(curl -s -o /dev/null -m 5 -w '%{{http_code}}' -H 'Content-Type: application/json' -H \"$H\" -d \"$B\" \"$G\")\n  \
         if [ \"$c\" = 200 ]; then n=$((n+1)); else n=0; i=$((i+1)); sleep 1; fi\ndone\n",
        gateway::completion_body(),
        gateway::POD_HEADER
    );
    for batch in batches(members) {
        let header = batch.header.map(|(name, value)| format!(" -H '{name}: {value}'")).unwrap_or_default();
        let (label, count) = (batch.ask.label(), batch.count);
        script.push_str(&format!("i=0; while [ $i -lt {count} ]; do req {label}{header}; i=$((i+1)); done\n"));
    }
    script
}

/// [`steer_script`]'s answers from the client pod's log; lines that are not results are ignored.
pub fn parse_answers(log: &str) -> Vec<Answer> {
    log.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let ask = match *fields.first()? {
                "free" => Ask::Free,
                "scored" => Ask::Scored,
                label => Ask::Steered(label.strip_prefix("steer:")?.split(',').map(str::to_string).collect()),
            };
            let status = fields.get(1)?.parse().ok()?;
            let seconds: f64 = fields.get(2)?.parse().ok()?;
            let answered_by = fields.get(3).map(|s| s.to_string());
            Some(Answer { ask, status, answered_by, elapsed: Duration::from_secs_f64(seconds.max(0.0)) })
        })
        .collect()
}

/// The client pod's script without the picker: a completion every half second for about `serving_s` seconds,
/// `nopicker STATUS` per answer, until [`WITHOUT_PICKER`] in a row were 5xx.
pub fn without_picker_script(address: &str, host: &str, serving_s: u64) -> String {
    format!(
        "end=$(( $(date +%s) + {serving_s} )); r=0\n\
         while [ $(date +%s) -lt $end ] && [ $r -lt {WITHOUT_PICKER} ]; do\n  \
         c=$(curl -s -o /dev/null -m 5 -w '%{{http_code}}' -H 'Content-Type: application/json' -H 'Host: {host}' \
         -d '{}' 'http://{address}{PATH}')\n  \
         echo \"nopicker $c\"\n  \
         case $c in 5??) r=$((r+1)) ;; *) r=0 ;; esac\n  sleep 0.5\ndone\n",
        gateway::completion_body()
    )
}

#[cfg(test)]
mod tests {
    use super::super::pool::MEMBERS;
    use super::*;

    fn members() -> Vec<Member> {
        MEMBERS.iter().enumerate().map(|(i, m)| Member { name: m.to_string(), ip: format!("10.0.0.{i}") }).collect()
    }

    #[test]
    fn the_client_pods_steer_through_the_picker_and_their_lines_parse() {
        let script = steer_script("10.0.0.9:80", "inference.ns.kaic.test", &members(), 60);
        assert!(script.contains("G='http://10.0.0.9:80/v1/completions'"), "{script}");
        assert!(script.contains("req steer:pool-model-1 -H 'test-epp-endpoint-selection: 10.0.0.1'"), "{script}");
        assert!(
            script.contains("req steer:pool-model-0,pool-model-1 -H 'test-epp-endpoint-selection: 10.0.0.0,10.0.0.1'"),
            "{script}"
        );
        assert!(script.contains("while [ $i -lt 30 ]; do req free;"), "{script}");
        assert!(script.contains("while [ $i -lt 30 ]; do req scored -H 'x-kaic-pool: scored';"), "{script}");
        let parsed = parse_answers(
            "noise\nsteer:pool-model-0 200 0.002 pool-model-0\nsteer:pool-model-0,pool-model-1 500 0.001\nfree 200 0.003 pool-model-2\n\
             scored 200 0.004 scored-model-idle\n",
        );
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[1].ask, Ask::Steered(vec!["pool-model-0".into(), "pool-model-1".into()]));
        assert_eq!((parsed[1].status, parsed[1].answered_by.clone()), (500, None));
        assert_eq!(parsed[2].ask, Ask::Free);
        assert_eq!((parsed[3].ask.clone(), parsed[3].answered_by.as_deref()), (Ask::Scored, Some("scored-model-idle")));
        let nopicker = without_picker_script("10.0.0.9:80", "h", 60);
        assert!(nopicker.contains("echo \"nopicker $c\"") && nopicker.contains("[ $r -lt 5 ]"), "{nopicker}");
    }
}
