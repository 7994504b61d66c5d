//! The webhook (`mandate serve --webhook URL`): a message to a chat for every approval
//! that waits and every kill-switch change, so the reviewers named in the team policy
//! learn that someone waits without watching the pages.
//!
//! The body is JSON a chat tool's incoming webhook accepts as is: `text` (Slack,
//! Mattermost, Rocket.Chat, Google Chat and Teams workflows show it), with the same facts
//! as structured fields beside it (`event`, and `approval` or `killswitch`) for anything
//! that routes on them.
//!
//! Like the exports ([`crate::export`]), the database is the queue: `webhook_sent`
//! remembers what was delivered, so a chat that is down is retried with backoff and a
//! restart repeats nothing. An approval is announced while it is pending (one decided
//! before the webhook saw it no longer waits); a kill-switch change, when it happened
//! after the webhook was first configured.

use serde_json::{Value, json};
use sqlx::Row as _;

use crate::export::{self, Backoff, ExportError};
use crate::{Db, ServerError, now};

/// Messages per round, at most.
const ROUND: i64 = 20;

/// Start the webhook's background task.
pub fn start(db: &Db, url: &str, headers: &[export::ExportHeader]) -> Result<(), ServerError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ServerError::Config(format!(
            "`--webhook {url}`: give the chat's incoming-webhook URL (http:// or https://)"
        )));
    }
    let client = export::http_client(export::headers_for("webhook", headers))?;
    let holder = crate::random_id("webhook-")?;
    tokio::spawn(run(db.clone(), url.to_owned(), client, holder));
    Ok(())
}

async fn run(db: Db, url: String, client: reqwest::Client, holder: String) {
    let key = format!("webhook={url}");
    let what = format!("webhook {url}");
    let mut backoff = Backoff::default();
    loop {
        let round = async {
            if !export::lease(&db, &key, &holder).await? {
                return Ok(None);
            }
            send_some(&db, &key, &url, &client).await.map(Some)
        };
        let wait = match round.await {
            Ok(None) => export::LEASE / 2,
            Ok(Some(sent)) => backoff
                .after(&db, &key, &what, Ok(sent))
                .await
                .unwrap_or(export::POLL),
            Err(error) => match backoff.after(&db, &key, &what, Err(error)).await {
                Some(wait) => wait,
                None => return,
            },
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// What waits to be announced: (item key, message), oldest first.
pub async fn due(db: &Db, key: &str) -> Result<Vec<(String, Value)>, ServerError> {
    let mut out = Vec::new();
    let approvals = sqlx::query(
        "SELECT a.id, a.run_id, a.tool, a.input, a.grp, a.reviewers, a.reason, \
         a.delegated_by, a.requested_at, r.project FROM approvals a \
         LEFT JOIN runs r ON r.run_id = a.run_id \
         WHERE a.status = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_sent w \
         WHERE w.sink = $1 AND w.item = 'approval:' || a.id) \
         ORDER BY a.requested_at LIMIT $2",
    )
    .bind(key)
    .bind(ROUND)
    .fetch_all(&db.pool)
    .await?;
    for row in approvals {
        let text = |i: usize| -> Result<String, sqlx::Error> {
            Ok(row.try_get::<Option<String>, _>(i)?.unwrap_or_default())
        };
        let approval = Approval {
            id: text(0)?,
            run_id: text(1)?,
            tool: text(2)?,
            input: serde_json::from_str(&text(3)?).unwrap_or(Value::Null),
            group: text(4)?,
            reviewers: serde_json::from_str(&text(5)?).unwrap_or_default(),
            reason: text(6)?,
            requested_by: text(7)?,
            requested_at: text(8)?,
            project: text(9)?,
        };
        out.push((format!("approval:{}", approval.id), approval.message()));
    }
    let since = export::since(db, key).await?;
    let kills = sqlx::query(
        "SELECT k.id, k.time, k.action, k.target, k.by_user, k.reason FROM killswitch_log k \
         WHERE k.time >= $2 AND NOT EXISTS (SELECT 1 FROM webhook_sent w \
         WHERE w.sink = $1 AND w.item = 'killswitch:' || k.id) \
         ORDER BY k.time LIMIT $3",
    )
    .bind(key)
    .bind(&since)
    .bind(ROUND)
    .fetch_all(&db.pool)
    .await?;
    for row in kills {
        let text = |i: usize| -> Result<String, sqlx::Error> {
            Ok(row.try_get::<Option<String>, _>(i)?.unwrap_or_default())
        };
        let id = text(0)?;
        let message = killswitch_message(&text(1)?, &text(2)?, &text(3)?, &text(4)?, &text(5)?);
        out.push((format!("killswitch:{id}"), message));
    }
    Ok(out)
}

async fn send_some(
    db: &Db,
    key: &str,
    url: &str,
    client: &reqwest::Client,
) -> Result<usize, ExportError> {
    let due = due(db, key).await?;
    for (item, message) in &due {
        export::post(
            client,
            url,
            "application/json",
            message.to_string().into_bytes(),
        )
        .await?;
        sqlx::query(
            "INSERT INTO webhook_sent (sink, item, sent_at) VALUES ($1, $2, $3) \
             ON CONFLICT (sink, item) DO NOTHING",
        )
        .bind(key)
        .bind(item)
        .bind(now())
        .execute(&db.pool)
        .await?;
    }
    Ok(due.len())
}

/// A pending approval, as the webhook tells of it.
struct Approval {
    id: String,
    run_id: String,
    tool: String,
    input: Value,
    group: String,
    reviewers: Vec<String>,
    reason: String,
    requested_by: String,
    requested_at: String,
    project: String,
}

impl Approval {
    fn message(&self) -> Value {
        let field = |key: &str| self.input.get(key).and_then(Value::as_str).unwrap_or("");
        let target = [field("command"), field("file_path"), field("url")]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("");
        let short: String = target
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        let call = if short.is_empty() {
            format!("`{}`", self.tool)
        } else {
            format!("{} `{short}`", self.tool)
        };
        let who = if self.reviewers.is_empty() {
            format!("the {} reviewers", self.group)
        } else {
            self.reviewers.join(", ")
        };
        let requester = if self.requested_by.is_empty() {
            "an agent"
        } else {
            self.requested_by.as_str()
        };
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.reason.lines().next().unwrap_or(""))
        };
        let text = format!(
            "Approval needed: {who}, {requester}'s agent waits for you to approve {call}{reason} \
             in run {} — approval {}. Decide on the server's Approvals page, or with \
             `mandate approve {}` / `mandate deny {} --reason …`.",
            self.run_id, self.id, self.id, self.id
        );
        json!({
            "text": text,
            "event": "approval.requested",
            "approval": {
                "id": self.id,
                "run_id": self.run_id,
                "project": self.project,
                "tool": self.tool,
                "input": self.input,
                "reason": self.reason,
                "group": self.group,
                "reviewers": self.reviewers,
                "requested_by": self.requested_by,
                "requested_at": self.requested_at,
                "path": "/approvals",
            },
        })
    }
}

fn killswitch_message(time: &str, action: &str, target: &str, by: &str, reason: &str) -> Value {
    let done = match action {
        "disable" => "turned off",
        "enable" => "turned back on",
        other => other,
    };
    let why = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    let text = format!(
        "Kill switch: {by} {done} `{target}` for every agent{why}. `mandate disabled` lists \
         what is off."
    );
    json!({
        "text": text,
        "event": format!("killswitch.{action}"),
        "killswitch": {
            "target": target,
            "action": action,
            "by": by,
            "reason": reason,
            "time": time,
        },
    })
}
