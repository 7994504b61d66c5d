//! `mandate approvals`, `mandate approve` and `mandate deny`: named-reviewer decisions.
//!
//! The hook opens a request when a call needs a reviewer group; a member of that group
//! who is not the run's delegating user decides it here. Membership is read from the
//! policy of the workspace the request came from, as it is now, so removing someone from
//! a group takes effect at once. Every decision is appended to the run's record.

use std::process::ExitCode;

use anyhow::{Result, bail};
use mandate_project::approvals::{Approvals, Request, Status};
use mandate_project::recorder::{append_event, now_rfc3339};
use mandate_project::{Project, current_user, os_user};
use serde_json::json;

fn project_here() -> Result<Project> {
    let cwd = std::env::current_dir()?;
    Ok(Project::discover(&cwd, None)?)
}

/// Requests held on other machines, as the team server lists them to this token's user
/// (the runs they read), without the ones this store holds; `Err` says why the server
/// could not be asked. Nothing without a usable `records.server` and token.
fn held_elsewhere(
    project: &Project,
    here: &[Request],
    all: bool,
) -> Result<(String, Vec<serde_json::Value>), String> {
    let Some(Ok(server)) = mandate_project::remote::configured(project) else {
        return Ok((String::new(), Vec::new()));
    };
    if !server.has_token() {
        return Ok((server.url, Vec::new()));
    }
    let path = if all {
        "/api/v1/approvals"
    } else {
        "/api/v1/approvals?status=pending"
    };
    let response = server.request("GET", path, None, std::time::Duration::from_secs(5))?;
    if response.status != 200 {
        return Err(mandate_project::outbox::refusal(
            &server,
            "the list of approval requests",
            response.status,
            &response,
        ));
    }
    let listed = response
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            let id = r.get("id").and_then(serde_json::Value::as_str);
            !here.iter().any(|h| Some(h.id.as_str()) == id)
        })
        .map(|mut r| {
            if let Some(fields) = r.as_object_mut() {
                fields.insert("held_on".into(), json!("team server"));
            }
            r
        })
        .collect();
    Ok((server.url, listed))
}

/// `mandate approvals [--all] [--json]`: this store's requests, and on a machine linked
/// to a team server also those held on other machines that this token's user may read
/// (a reviewer decides them from here: `mandate approve ID` goes to the server, bound to
/// the request's run and call).
pub fn list(json: bool, all: bool) -> Result<ExitCode> {
    let project = project_here()?;
    let requests: Vec<Request> = Approvals::new(&project.records_dir())
        .list()?
        .into_iter()
        .filter(|r| all || r.status == Status::Pending)
        .collect();
    let (server_url, elsewhere) = match held_elsewhere(&project, &requests, all) {
        Ok(found) => found,
        Err(why) => {
            eprintln!("mandate approvals: requests held on other machines are not listed: {why}");
            (String::new(), Vec::new())
        }
    };
    if json {
        let mut out = Vec::with_capacity(requests.len() + elsewhere.len());
        for request in &requests {
            let mut value = serde_json::to_value(request)?;
            if let Some(fields) = value.as_object_mut() {
                fields.insert("held_on".into(), json!("this machine"));
            }
            out.push(value);
        }
        out.extend(elsewhere);
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if requests.is_empty() && elsewhere.is_empty() {
        println!(
            "{}",
            if all {
                "no approval requests"
            } else {
                "no pending approval requests"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for request in &requests {
        println!(
            "{}  {:<8}  {} (run {}, delegated by {})\n    {} {}\n    needs: `{}` ({}) — {}\n    requested {}",
            request.id,
            request.status.as_str(),
            request.task_id,
            request.run_id,
            request.delegated_by,
            request.tool,
            shortened(&request.input.to_string()),
            request.group,
            request.reviewers.join(", "),
            request.reason,
            request.requested_at,
        );
        if let Some(by) = &request.decided_by {
            println!(
                "    decided by {by}{}",
                request
                    .note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
        }
    }
    for request in &elsewhere {
        let field = |key: &str| {
            request
                .get(key)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        };
        let reviewers: Vec<&str> = request
            .get("reviewers")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .collect();
        println!(
            "{}  {:<8}  run {}, delegated by {} (held on another machine; decided on the team \
             server {server_url})\n    {} {}\n    needs: `{}` ({}) — {}\n    requested {}",
            field("id"),
            field("status"),
            field("run_id"),
            field("delegated_by"),
            field("tool"),
            shortened(field("input")),
            field("group"),
            reviewers.join(", "),
            field("reason"),
            field("requested_at"),
        );
        if !field("decided_by").is_empty() {
            println!("    decided by {}", field("decided_by"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A call's input, cut at 120 characters for the listing.
fn shortened(input: &str) -> String {
    if input.chars().count() > 120 {
        format!("{}…", input.chars().take(120).collect::<String>())
    } else {
        input.to_string()
    }
}

/// The reviewer at the keyboard, checked against the request's group.
fn reviewer_for(request: &Request) -> Result<String> {
    let project = Project::discover(&request.workspace, None)?;
    let Some(user) = current_user(&project.root) else {
        bail!(
            "cannot tell who you are: set MANDATE_USER or git's user.email to your identity in \
             `authority.reviewers.{}`",
            request.group
        );
    };
    let engine = project.engine(None)?;
    let members = engine
        .reviewers()
        .get(&request.group)
        .cloned()
        .unwrap_or_default();
    if user == request.delegated_by {
        let others: Vec<&String> = members.iter().filter(|m| **m != user).collect();
        bail!(
            "`{user}` delegated run {} ({}), so you may not decide its approval requests \
             yourself: ask another member of `{}`{}",
            request.run_id,
            request.task_id,
            request.group,
            if others.is_empty() {
                " (there is none: security must add one to `authority.reviewers`)".to_string()
            } else {
                format!(
                    " ({})",
                    others
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    if !members.contains(&user) {
        bail!(
            "`{user}` is not in the `{}` reviewer group, which decides request {}: it lists {}",
            request.group,
            request.id,
            if members.is_empty() {
                "nobody".to_string()
            } else {
                members.join(", ")
            }
        );
    }
    Ok(user)
}

fn load(store: &Approvals, id: &str) -> Result<Request> {
    match store.get(id)? {
        Some(request) => Ok(request),
        None => {
            bail!("there is no approval request `{id}`; `mandate approvals` lists the pending ones")
        }
    }
}

fn must_be_pending(request: &Request) -> Result<(), String> {
    match request.status {
        Status::Pending => Ok(()),
        Status::Approved => Err(format!(
            "request {} is already approved (by {})",
            request.id,
            request.decided_by.as_deref().unwrap_or("?")
        )),
        Status::Used => Err(format!(
            "request {} was approved and already used; a new call opens a new request",
            request.id
        )),
        Status::Denied => Err(format!(
            "request {} was refused by {} and stays refused",
            request.id,
            request.decided_by.as_deref().unwrap_or("?")
        )),
    }
}

pub fn approve(id: &str, for_run: bool) -> Result<ExitCode> {
    decide(id, Decision::Approve { for_run })
}

pub fn deny(id: &str, reason: &str) -> Result<ExitCode> {
    if reason.trim().is_empty() {
        bail!("say why with `--reason TEXT`: the agent and the run's record see it");
    }
    decide(id, Decision::Deny { reason })
}

/// A request held on another machine: decided on the team server, as the token's user
/// (the server checks they are in the request's reviewer group and did not delegate the
/// run); the machine that holds the call learns of it at its next sync.
fn decide_on_server(
    project: &Project,
    server: &mandate_project::remote::Server,
    id: &str,
    decision: &Decision<'_>,
) -> Result<ExitCode> {
    let response = server
        .request(
            "GET",
            "/api/v1/approvals?status=pending",
            None,
            std::time::Duration::from_secs(10),
        )
        .map_err(anyhow::Error::msg)?;
    if response.status != 200 {
        bail!(
            "{}",
            mandate_project::outbox::refusal(
                server,
                "the list of pending approval requests",
                response.status,
                &response
            )
        );
    }
    let listed = response.json();
    let Some(request) = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r.get("id").and_then(serde_json::Value::as_str) == Some(id))
    else {
        bail!(
            "there is no approval request `{id}` here, and none pending on the team server {} \
             that this token may read; `mandate approvals` lists the pending ones",
            server.url
        );
    };
    let field = |key: &str| {
        request
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (approve, for_run, note) = match decision {
        Decision::Approve { for_run } => (true, *for_run, ""),
        Decision::Deny { reason } => (false, false, *reason),
    };
    let (run_id, digest) = (field("run_id"), field("digest"));
    let delivery = mandate_project::remote::decide(
        server,
        &project.records_dir(),
        &mandate_project::remote::Decision {
            id,
            run_id: &run_id,
            digest: &digest,
            approve,
            for_run,
            note,
        },
    );
    use mandate_project::outbox::Delivery;
    match delivery {
        Delivery::Sent(response) if response.status == 200 => {
            println!(
                "{} {id} on the team server {} ({} in run {run_id}): the machine that holds \
                 the call learns of it at its next sync",
                if approve { "approved" } else { "refused" },
                server.url,
                field("tool"),
            );
            Ok(ExitCode::SUCCESS)
        }
        Delivery::Sent(response) => bail!(
            "the team server {} did not take the decision: {}",
            server.url,
            response.error()
        ),
        Delivery::Queued(reason) => {
            println!(
                "the team server cannot take the decision on {id} yet ({reason}); it is kept \
                 and sent by the next push"
            );
            Ok(ExitCode::SUCCESS)
        }
        Delivery::Refused(reason) => bail!("{reason}"),
    }
}

/// What a reviewer decides about a held call.
enum Decision<'a> {
    Approve { for_run: bool },
    Deny { reason: &'a str },
}

/// The steps `approve` and `deny` share: the request must be pending and the person a
/// reviewer of its group (never the delegating user); the decision is stored under the
/// store's lock, recorded in the run's record, told to the team server when there is one.
fn decide(id: &str, decision: Decision<'_>) -> Result<ExitCode> {
    let project = project_here()?;
    let store = Approvals::new(&project.records_dir());
    if store.get(id)?.is_none()
        && let Some(Ok(server)) = mandate_project::remote::configured(&project)
    {
        return decide_on_server(&project, &server, id, &decision);
    }
    let request = load(&store, id)?;
    must_be_pending(&request).map_err(anyhow::Error::msg)?;
    let user = reviewer_for(&request)?;
    let now = now_rfc3339();
    let who = os_user();
    let decided = store.update(id, |r| {
        must_be_pending(r)?;
        match &decision {
            Decision::Approve { for_run } => {
                r.status = Status::Approved;
                r.for_run = *for_run;
            }
            Decision::Deny { reason } => {
                r.status = Status::Denied;
                r.note = Some((*reason).to_string());
            }
        }
        r.decided_by = Some(user.clone());
        r.decided_os_user = Some(who.clone());
        r.decided_at = Some(now.clone());
        Ok(())
    })?;
    let request = decided.map_err(anyhow::Error::msg)?;
    let mut event = json!({
        "time": now, "id": request.id, "by": user, "os_user": who,
        "tool": request.tool, "digest": request.digest, "group": request.group,
    });
    let (approved, for_run, reason) = match decision {
        Decision::Approve { for_run } => {
            if let Some(fields) = event.as_object_mut() {
                fields.insert("type".into(), json!("approval.granted"));
                fields.insert("for_run".into(), json!(for_run));
            }
            (true, for_run, "")
        }
        Decision::Deny { reason } => {
            if let Some(fields) = event.as_object_mut() {
                fields.insert("type".into(), json!("approval.denied"));
                fields.insert("reason".into(), json!(reason));
            }
            (false, false, reason)
        }
    };
    append_event(&request.run_dir, event)?;
    if approved {
        println!(
            "approved {}: the agent may now run `{}` with exactly this input {} in run {}",
            request.id,
            request.tool,
            if for_run {
                "as often as it needs"
            } else {
                "once"
            },
            request.run_id
        );
    } else {
        println!(
            "refused {}: the agent is told why, and the same call stays refused in run {}",
            request.id, request.run_id
        );
    }
    // The record entry reaches the server with the next push, as the record's word; the
    // API call makes it the signed-in reviewer's decision. A token that may not decide
    // (the delegator's own, on their machine) is refused there: the entry still goes.
    let records = project.records_dir();
    match mandate_project::remote::configured(&project) {
        None => {}
        Some(Err(error)) => eprintln!(
            "warning: records.server is not usable ({error}); the decision holds here, and \
             reaches the server with the run's record once it is fixed"
        ),
        Some(Ok(server)) => {
            use mandate_project::outbox::Delivery;
            let delivery = mandate_project::remote::decide(
                &server,
                &records,
                &mandate_project::remote::Decision {
                    id: &request.id,
                    run_id: &request.run_id,
                    digest: &request.digest,
                    approve: approved,
                    for_run,
                    note: reason,
                },
            );
            match delivery {
                Delivery::Sent(_) => println!(
                    "the team server {} has the decision, as this token's user",
                    server.url
                ),
                Delivery::Queued(why) => println!(
                    "the team server cannot take the decision yet ({why}); it is kept and sent \
                     by the next push, and the record entry goes with the run"
                ),
                Delivery::Refused(why) => println!(
                    "note: {why}. The decision is in the run's record and reaches the server \
                     with the next push, shown there as the record's word"
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
