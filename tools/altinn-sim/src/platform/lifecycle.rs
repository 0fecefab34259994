//! An instance's life: its process (tasks in flow order, the current one, the end), and the
//! instance events Storage logs along the way. Every state change goes through the methods here,
//! so the process, `status.archived` and the event log cannot disagree.
//!
//! Modelled on app-lib's `ProcessEngine` (one move = `process_EndTask` for the task left, then
//! `process_StartTask` of the next or `process_EndEvent`) and Storage's `ProcessController`,
//! which archives the instance when the process ends
//! (<https://github.com/Altinn/app-lib-dotnet>, <https://github.com/Altinn/altinn-storage>).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::seed::{StoredInstance, TaskSpec};

/// The BPMN start and end events of every simulated process.
pub(crate) const START_EVENT: &str = "StartEvent_1";
pub(crate) const END_EVENT: &str = "EndEvent_1";

/// `flowType` of every task (the only one a linear process uses).
pub(crate) const FLOW_TYPE: &str = "CompleteCurrentMoveToNext";

/// The task an instance is at.
#[derive(Clone, Debug)]
pub(crate) struct CurrentTask {
    /// Index into [`ProcessState::tasks`].
    pub index: usize,
    /// The BPMN flow number: the start event is 1, the first task 2, …
    pub flow: u32,
    pub started: OffsetDateTime,
    /// Set only in the `processInfo` of a `process_EndTask` event.
    pub ended: Option<OffsetDateTime>,
}

/// The process of one instance. `current == None` with `ended` set is a finished process.
#[derive(Clone, Debug)]
pub(crate) struct ProcessState {
    pub tasks: Vec<TaskSpec>,
    /// `None`: the process was never started.
    pub started: Option<OffsetDateTime>,
    pub current: Option<CurrentTask>,
    pub ended: Option<OffsetDateTime>,
}

impl ProcessState {
    pub(crate) fn current_task(&self) -> Option<&TaskSpec> {
        self.current
            .as_ref()
            .and_then(|current| self.tasks.get(current.index))
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.ended.is_some()
    }
}

/// Who did something, as an instance event's `user` and as `lastChangedBy`.
#[derive(Clone, Debug)]
pub(crate) enum Actor {
    /// The end user who owns the instance (seeded history).
    Person { user_id: u64, person_number: String },
    /// A service owner through its Altinn token.
    Org {
        code: String,
        org_number: Option<String>,
    },
}

impl Actor {
    /// `lastChangedBy`: the user id, or the org number (the code when the token has none).
    pub(crate) fn changed_by(&self) -> String {
        match self {
            Actor::Person { user_id, .. } => user_id.to_string(),
            Actor::Org { code, org_number } => org_number.clone().unwrap_or_else(|| code.clone()),
        }
    }
}

/// One entry of Storage's instance event log.
#[derive(Clone, Debug)]
pub(crate) struct InstanceEvent {
    pub id: Uuid,
    pub created: OffsetDateTime,
    pub event_type: &'static str,
    pub data_id: Option<Uuid>,
    pub actor: Actor,
    /// The process as it was when the event happened (`processInfo`).
    pub process: ProcessState,
}

/// What [`StoredInstance::advance`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Moved {
    /// Now at this task (id).
    ToTask(String),
    /// The process reached its end event.
    ToEnd,
}

impl StoredInstance {
    /// Logs an instance event with the current process state.
    pub(crate) fn log_event(
        &mut self,
        event_type: &'static str,
        at: OffsetDateTime,
        actor: &Actor,
        data_id: Option<Uuid>,
    ) {
        let process = self.process.clone();
        self.log_event_with(event_type, at, actor, data_id, process);
    }

    fn log_event_with(
        &mut self,
        event_type: &'static str,
        at: OffsetDateTime,
        actor: &Actor,
        data_id: Option<Uuid>,
        process: ProcessState,
    ) {
        self.events.push(InstanceEvent {
            id: Uuid::new_v4(),
            created: at,
            event_type,
            data_id,
            actor: actor.clone(),
            process,
        });
    }

    /// Records a change by `actor` (`lastChanged`, `lastChangedBy`).
    pub(crate) fn touch(&mut self, at: OffsetDateTime, actor: &Actor) {
        self.last_changed = at;
        self.last_changed_by = actor.changed_by();
    }

    /// Starts the process at its first task: `process_StartEvent`, `process_StartTask`.
    pub(crate) fn start_process(&mut self, at: OffsetDateTime, actor: &Actor) {
        self.process.started = Some(at);
        self.process.ended = None;
        self.process.current = None;
        self.log_event("process_StartEvent", at, actor, None);
        self.enter_task(0, 2, at, actor);
    }

    fn enter_task(&mut self, index: usize, flow: u32, at: OffsetDateTime, actor: &Actor) {
        self.process.current = Some(CurrentTask {
            index,
            flow,
            started: at,
            ended: None,
        });
        self.log_event("process_StartTask", at, actor, None);
    }

    /// Leaves the current task for the next one, or for the end event after the last: logs
    /// `process_EndTask`, then `process_StartTask` or `process_EndEvent`. Reaching the end
    /// archives the instance (`status.archived` = the end time), as Storage does. `None` when
    /// the process is not at a task.
    pub(crate) fn advance(&mut self, at: OffsetDateTime, actor: &Actor) -> Option<Moved> {
        let current = self.process.current.clone()?;
        let mut leaving = self.process.clone();
        if let Some(task) = leaving.current.as_mut() {
            task.ended = Some(at);
        }
        self.log_event_with("process_EndTask", at, actor, None, leaving);
        self.touch(at, actor);
        let next = current.index + 1;
        if let Some(task) = self.process.tasks.get(next) {
            let id = task.id.clone();
            self.enter_task(next, current.flow + 1, at, actor);
            return Some(Moved::ToTask(id));
        }
        self.process.current = None;
        self.process.ended = Some(at);
        self.archived = Some(at);
        self.log_event("process_EndEvent", at, actor, None);
        Some(Moved::ToEnd)
    }

    /// Altinn's `InstanceIsActive`: not archived and not deleted.
    pub(crate) fn is_active(&self) -> bool {
        self.archived.is_none()
    }
}

/// Where a seeded instance's process stands.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SeededState<'a> {
    /// Created, process never started.
    NotStarted,
    /// At this task (`None` or an unknown id = the first).
    AtTask(Option<&'a str>),
    /// Every task done, end event reached.
    Ended,
}

/// Seeds a believable history: created by the owner 20 minutes ago, the process started at
/// the first task, each task before the target (every task, when ended) submitted a few
/// minutes later, and for an ended process the last task and the end event a minute ago.
/// `instance.process.tasks` must not be empty.
pub(crate) fn seed_history(
    instance: &mut StoredInstance,
    state: SeededState<'_>,
    now: OffsetDateTime,
) {
    let owner = Actor::Person {
        user_id: 1337,
        person_number: instance.person_number.clone(),
    };
    let created = instance.created;
    instance.log_event("Created", created, &owner, None);
    let target = match state {
        SeededState::NotStarted => {
            instance.touch(created, &owner);
            return;
        }
        SeededState::AtTask(task) => Some(
            task.and_then(|id| instance.process.tasks.iter().position(|t| t.id == id))
                .unwrap_or(0),
        ),
        SeededState::Ended => None,
    };
    instance.start_process(created + time::Duration::seconds(1), &owner);
    let mut step = 1;
    while let Some(current) = instance.process.current.as_ref().map(|c| c.index) {
        if target == Some(current) {
            break;
        }
        let is_last = current + 1 == instance.process.tasks.len();
        let at = if is_last {
            now - time::Duration::minutes(1)
        } else {
            created + time::Duration::minutes(2 + step)
        };
        step += 1;
        instance.advance(at, &owner);
    }
    let last = instance.process.ended.unwrap_or(created);
    instance.touch(last, &owner);
}
