//! The team policy: who may delegate runs in a project, who reviews its held calls, who
//! reads its runs, and who holds the kill switch. It is kept here, pushed by a security
//! or admin token, and versioned; nothing a developer pushes changes it.
//!
//! ```json
//! {"kill_switch": ["sec@example.com"],
//!  "projects": {"billing": {"delegators": ["alice@example.com"],
//!                           "reviewers": {"billing-owners": ["bob@example.com"]},
//!                           "security": ["sec@example.com"]}}}
//! ```
//!
//! - a run belongs to a project; only a delegator of the project may push runs into it,
//!   and the run's delegator is the pushing token's user;
//! - a held call is decided only by a member of the project's reviewer group the call
//!   names, never by the run's delegator;
//! - reviewers and security read the runs of their projects; a developer reads their own.
//!
//! A server with no policy yet lets nobody push, approve or pull the kill switch but an
//! admin (who pushes the first policy): it fails closed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::auth::normalise_email;
use crate::{Caller, Db, Role, ServerError, now};

/// One project's people.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProjectPolicy {
    /// Who may delegate (push) runs in the project.
    #[serde(default)]
    pub delegators: Vec<String>,
    /// Reviewer groups, by the name contracts and policies use (`approval = "GROUP"`).
    #[serde(default)]
    pub reviewers: BTreeMap<String, Vec<String>>,
    /// Security staff of the project: read its runs and approvals.
    #[serde(default)]
    pub security: Vec<String>,
}

impl ProjectPolicy {
    /// Reviewers of any group, and security: who reads the project's runs.
    pub fn readers(&self) -> impl Iterator<Item = &String> {
        self.reviewers
            .values()
            .flatten()
            .chain(self.security.iter())
    }

    pub fn reads(&self, email: &str) -> bool {
        self.readers().any(|e| e == email)
    }
}

/// The policy in force.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TeamPolicy {
    /// Who may pull the kill switch (with a security or admin token).
    #[serde(default)]
    pub kill_switch: Vec<String>,
    #[serde(default)]
    pub projects: BTreeMap<String, ProjectPolicy>,
}

/// The policy and its version (0: none pushed yet).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Versioned {
    pub version: i64,
    pub by: Option<String>,
    pub at: Option<String>,
    pub policy: TeamPolicy,
}

/// A project name: what `[records] project` in mandate.toml says.
pub fn valid_project(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl TeamPolicy {
    /// Check names and normalise every e-mail address, so one person is one principal.
    pub fn normalised(mut self) -> Result<TeamPolicy, ServerError> {
        let fix = |list: &mut Vec<String>| -> Result<(), ServerError> {
            for email in list.iter_mut() {
                *email = normalise_email(email)?;
            }
            list.sort();
            list.dedup();
            Ok(())
        };
        fix(&mut self.kill_switch)?;
        for (name, project) in &mut self.projects {
            if !valid_project(name) || name == "*" {
                return Err(ServerError::BadRequest(format!(
                    "`{name}` is not a project name (letters, digits, `-`, `_`, `.`, `/`)"
                )));
            }
            fix(&mut project.delegators)?;
            fix(&mut project.security)?;
            for (group, members) in &mut project.reviewers {
                if group.trim().is_empty() {
                    return Err(ServerError::BadRequest(format!(
                        "project `{name}` has a reviewer group without a name"
                    )));
                }
                fix(members)?;
            }
        }
        Ok(self)
    }

    pub fn project(&self, name: &str) -> Option<&ProjectPolicy> {
        self.projects.get(name)
    }
}

/// The policy in force now.
pub async fn current(db: &Db) -> Result<Versioned, ServerError> {
    let row = sqlx::query(
        "SELECT version, body, by_user, created_at FROM team_policy ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(Versioned::default());
    };
    let body: String = row.try_get(1)?;
    let policy = serde_json::from_str(&body)
        .map_err(|error| ServerError::Internal(format!("the stored team policy: {error}")))?;
    Ok(Versioned {
        version: row.try_get(0)?,
        by: Some(row.try_get(2)?),
        at: Some(row.try_get(3)?),
        policy,
    })
}

/// Every version, newest first, without bodies.
pub async fn history(db: &Db) -> Result<Vec<(i64, String, String)>, ServerError> {
    let rows = sqlx::query(
        "SELECT version, by_user, created_at FROM team_policy ORDER BY version DESC LIMIT 200",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect()
}

/// Push a new version (security or admin). Returns it.
pub async fn push(
    db: &Db,
    who: &Caller,
    policy: TeamPolicy,
    base: Option<i64>,
) -> Result<Versioned, ServerError> {
    who.require(
        matches!(who.role, Role::Security | Role::Admin),
        "change the team policy",
    )?;
    who.require(
        who.scope.is_all(),
        "change the team policy with a project-scoped token",
    )?;
    let policy = policy.normalised()?;
    let body =
        serde_json::to_string(&policy).map_err(|error| ServerError::Internal(error.to_string()))?;
    let mut tx = db.pool.begin().await?;
    // Take the write lock (SQLite) before reading the version; on PostgreSQL a racing
    // push fails on the primary key instead of overwriting.
    crate::audit::lock_head(&mut tx).await?;
    let version: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM team_policy")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if let Some(base) = base
        && base != version
    {
        return Err(ServerError::Conflict {
            message: format!(
                "the team policy is at version {version}, not {base}: read it again and \
                 make your change on top of it"
            ),
            have: None,
        });
    }
    let at = now();
    sqlx::query(
        "INSERT INTO team_policy (version, body, by_user, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(version + 1)
    .bind(&body)
    .bind(&who.email)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    crate::audit::append_in(
        &mut tx,
        &who.email,
        "policy.push",
        &format!("version {}", version + 1),
        serde_json::json!({"policy": policy}),
    )
    .await?;
    tx.commit().await?;
    Ok(Versioned {
        version: version + 1,
        by: Some(who.email.clone()),
        at: Some(at),
        policy,
    })
}

/// Which runs a caller reads: all of them, or their own and those of some projects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    All,
    Some {
        me: String,
        /// `None`: their own runs in any project.
        own_in: Option<Vec<String>>,
        projects: Vec<String>,
    },
}

impl Visibility {
    pub fn of(who: &Caller, policy: &TeamPolicy) -> Visibility {
        if who.role == Role::Admin {
            return Visibility::All;
        }
        let projects = if matches!(who.role, Role::Reviewer | Role::Security) {
            policy
                .projects
                .iter()
                .filter(|(name, project)| who.scope.covers(name) && project.reads(&who.email))
                .map(|(name, _)| name.clone())
                .collect()
        } else {
            Vec::new()
        };
        Visibility::Some {
            me: who.email.clone(),
            own_in: match &who.scope {
                crate::auth::Scope::All => None,
                crate::auth::Scope::Projects(list) => Some(list.clone()),
            },
            projects,
        }
    }

    /// Whether a run of `owner` in `project` is visible.
    pub fn sees(&self, owner: &str, project: Option<&str>) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Some {
                me,
                own_in,
                projects,
            } => {
                let own = owner == me
                    && own_in
                        .as_ref()
                        .is_none_or(|list| project.is_some_and(|p| list.iter().any(|l| l == p)));
                own || project.is_some_and(|p| projects.iter().any(|l| l == p))
            }
        }
    }

    /// An SQL condition on `runs` (columns `owner`, `project`), with its parameters
    /// numbered from `$first`.
    pub fn sql(&self, first: usize) -> (String, Vec<String>) {
        let Visibility::Some {
            me,
            own_in,
            projects,
        } = self
        else {
            return ("1 = 1".to_string(), Vec::new());
        };
        let mut binds = vec![me.clone()];
        let mut n = first + 1;
        let mut list = |items: &[String], binds: &mut Vec<String>| {
            if items.is_empty() {
                return "(NULL)".to_string();
            }
            let marks: Vec<String> = items
                .iter()
                .map(|item| {
                    binds.push(item.clone());
                    let mark = format!("${n}");
                    n += 1;
                    mark
                })
                .collect();
            format!("({})", marks.join(", "))
        };
        let own = match own_in {
            None => format!("owner = ${first}"),
            Some(list_in) => {
                let marks = list(list_in, &mut binds);
                format!("(owner = ${first} AND project IN {marks})")
            }
        };
        let shared = list(projects, &mut binds);
        (format!("({own} OR project IN {shared})"), binds)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests fail loudly on what they do not expect"
)]
mod tests {
    use super::*;
    use crate::auth::{Scope, Via};

    fn caller(email: &str, role: Role, scope: Scope) -> Caller {
        Caller {
            email: email.to_string(),
            role,
            scope,
            token_id: String::new(),
            via: Via::Token,
        }
    }

    #[test]
    fn who_sees_which_runs() {
        let policy: TeamPolicy = serde_json::from_value(serde_json::json!({
            "projects": {"billing": {"reviewers": {"billing": ["bob@example.com"]}},
                         "payments": {"security": ["sec@example.com"]}}
        }))
        .unwrap();
        let billing = Scope::Projects(vec!["billing".into()]);
        let alice = Visibility::of(
            &caller("alice@example.com", Role::Developer, billing.clone()),
            &policy,
        );
        assert!(alice.sees("alice@example.com", Some("billing")));
        assert!(
            !alice.sees("alice@example.com", Some("payments")),
            "out of scope"
        );
        assert!(!alice.sees("carol@example.com", Some("billing")));
        let bob = Visibility::of(
            &caller("bob@example.com", Role::Reviewer, Scope::All),
            &policy,
        );
        assert!(bob.sees("carol@example.com", Some("billing")));
        assert!(!bob.sees("carol@example.com", Some("payments")));
        assert!(!bob.sees("carol@example.com", None));
        let (sql, binds) = bob.sql(3);
        assert_eq!(sql, "(owner = $3 OR project IN ($4))");
        assert_eq!(binds, ["bob@example.com", "billing"]);
        let (sql, binds) = alice.sql(1);
        assert_eq!(
            sql,
            "((owner = $1 AND project IN ($2)) OR project IN (NULL))"
        );
        assert_eq!(binds, ["alice@example.com", "billing"]);
        let admin = Visibility::of(
            &caller("root@example.com", Role::Admin, Scope::All),
            &policy,
        );
        assert_eq!(admin, Visibility::All);
    }

    #[test]
    fn addresses_are_one_principal() {
        let policy: TeamPolicy = serde_json::from_value(serde_json::json!({
            "kill_switch": [" Sec@Example.com", "sec@example.com"],
            "projects": {"billing": {"delegators": ["ALICE@example.com"]}}
        }))
        .unwrap();
        let policy = policy.normalised().unwrap();
        assert_eq!(policy.kill_switch, ["sec@example.com"]);
        assert_eq!(policy.projects["billing"].delegators, ["alice@example.com"]);
        let bad: TeamPolicy =
            serde_json::from_value(serde_json::json!({"kill_switch": ["not an address"]})).unwrap();
        assert!(bad.normalised().is_err());
        assert_eq!(
            crate::auth::parse_ttl("90d").unwrap(),
            std::time::Duration::from_secs(90 * 86_400)
        );
        assert!(crate::auth::parse_ttl("90").is_err());
        assert!(crate::auth::parse_ttl("0d").is_err());
    }
}
