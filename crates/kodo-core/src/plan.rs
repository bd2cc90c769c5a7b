//! Planned changes: the one plan / approve / apply engine of every operation that changes a
//! tenant. An operation reads, builds a [`Plan`] (steps with a stable id, an action and a
//! target), has it decided ([`Plan::decide`]: a dry run, the request's own list of approved
//! ids, or the host asked once through an `approve` question that PowerShell answers with
//! ShouldProcess per step), carries out the approved steps it is given
//! ([`Decided::approved_steps`]) and records each as done. [`Decided::report`] is what every
//! result says of it: the plan, the approved ids and the changes made.

use crate::context::OpContext;
use crate::error::KodoError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub id: String,
    pub action: String,
    pub target: String,
}

/// How a request has its plan approved: the `approval` object every changing request may
/// carry (`{"dryRun":true}`, `{"ask":true}`, `{"approved":["id",...]}`; absent: every step).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Approval {
    /// Plan only.
    pub dry_run: bool,
    /// Ask the host once for the whole plan (an `approve` question).
    pub ask: bool,
    /// Without `ask`: the ids approved beforehand (None: every step).
    pub approved: Option<Vec<String>>,
}

impl Approval {
    /// Only these steps.
    pub fn only(ids: Vec<String>) -> Approval {
        Approval { approved: Some(ids), ..Default::default() }
    }
}

/// Steps planned from what was read.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    items: Vec<PlanItem>,
}

impl Plan {
    pub fn new() -> Plan {
        Plan::default()
    }
    pub fn add(&mut self, id: impl Into<String>, action: impl Into<String>, target: impl Into<String>) {
        self.items.push(PlanItem { id: id.into(), action: action.into(), target: target.into() });
    }
    pub fn push(&mut self, item: PlanItem) {
        self.items.push(item);
    }
    pub fn items(&self) -> &[PlanItem] {
        &self.items
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn has(&self, id: &str) -> bool {
        self.items.iter().any(|i| i.id == id)
    }

    /// Decides which steps run: none for a dry run; the host's answer when asked (one question
    /// for the whole plan, so what the plan was made from is read once); else the request's
    /// list, or every step.
    pub async fn decide(self, ctx: &OpContext, approval: &Approval) -> Result<Decided, KodoError> {
        let approved: Option<HashSet<String>> = if approval.dry_run {
            Some(HashSet::new())
        } else if approval.ask && !self.items.is_empty() {
            let answer = ctx
                .ask_within(
                    "approve",
                    "Approve the planned changes.",
                    json!({ "plan": self.items }),
                    Duration::from_secs(24 * 3600),
                )
                .await?;
            Some(
                answer["approved"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            )
        } else {
            approval.approved.as_ref().map(|a| a.iter().cloned().collect())
        };
        Ok(Decided { plan: self.items, approved, dry_run: approval.dry_run, changes: Vec::new() })
    }
}

/// A plan with its decision, and the changes made so far.
#[derive(Debug, Clone)]
pub struct Decided {
    plan: Vec<PlanItem>,
    /// None: every step.
    approved: Option<HashSet<String>>,
    dry_run: bool,
    changes: Vec<PlanItem>,
}

impl Decided {
    pub fn plan(&self) -> &[PlanItem] {
        &self.plan
    }
    /// Whether a step was planned and approved.
    pub fn approves(&self, id: &str) -> bool {
        self.plan.iter().any(|p| p.id == id) && self.approved.as_ref().is_none_or(|a| a.contains(id))
    }
    /// False for a dry run, and when a plan had steps and none was approved: the operation
    /// then answers with its plan and changes nothing.
    pub fn applies(&self) -> bool {
        !self.dry_run && (self.plan.is_empty() || self.plan.iter().any(|p| self.approves(&p.id)))
    }
    /// The approved steps, in plan order (none unless [`Decided::applies`]).
    pub fn approved_steps(&self) -> Vec<PlanItem> {
        if !self.applies() {
            return Vec::new();
        }
        self.plan.iter().filter(|p| self.approves(&p.id)).cloned().collect()
    }
    /// The ids approved (every planned id when no list was given), in plan order.
    pub fn approved_ids(&self) -> Vec<String> {
        self.approved_steps().into_iter().map(|p| p.id).collect()
    }
    /// Records a step as carried out.
    pub fn done(&mut self, id: &str) {
        if let Some(step) = self.plan.iter().find(|p| p.id == id) {
            if !self.changes.iter().any(|c| c.id == id) {
                self.changes.push(step.clone());
            }
        }
    }
    pub fn changes(&self) -> &[PlanItem] {
        &self.changes
    }
    /// `plan`, `approved` and `changes`, as every changing operation's result carries them.
    pub fn report(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("plan".into(), json!(self.plan));
        m.insert("approved".into(), json!(self.approved_ids()));
        m.insert("changes".into(), json!(self.changes));
        m
    }
    /// `report` with the operation's own fields added.
    pub fn report_with(&self, fields: Value) -> Value {
        let mut m = self.report();
        if let Value::Object(extra) = fields {
            m.extend(extra);
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let mut p = Plan::new();
        p.add("a", "Do A", "t");
        p.add("b", "Do B", "t");
        p
    }

    #[tokio::test]
    async fn without_a_list_every_step_is_approved() {
        let mut d = plan().decide(&OpContext::detached(), &Approval::default()).await.unwrap();
        assert!(d.applies());
        assert_eq!(d.approved_ids(), ["a", "b"]);
        d.done("b");
        d.done("b");
        d.done("nope");
        assert_eq!(d.report()["changes"], json!([{ "id": "b", "action": "Do B", "target": "t" }]));
    }

    #[tokio::test]
    async fn a_dry_run_and_an_empty_approval_change_nothing() {
        let ctx = OpContext::detached();
        let dry = plan().decide(&ctx, &Approval { dry_run: true, ..Default::default() }).await.unwrap();
        assert!(!dry.applies() && dry.approved_steps().is_empty());
        assert_eq!(dry.report()["plan"].as_array().unwrap().len(), 2);
        let none = plan().decide(&ctx, &Approval::only(vec![])).await.unwrap();
        assert!(!none.applies());
        let some = plan().decide(&ctx, &Approval::only(vec!["b".into(), "zzz".into()])).await.unwrap();
        assert_eq!(some.approved_ids(), ["b"]);
        assert!(!some.approves("a") && !some.approves("zzz"));
        // Nothing planned: applies (there is nothing to refuse), no steps.
        let empty = Plan::new().decide(&ctx, &Approval::only(vec![])).await.unwrap();
        assert!(empty.applies() && empty.approved_steps().is_empty());
    }
}
