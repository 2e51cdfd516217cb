//! Why a group waits, as a typed value ([`Wait`]): the kind ([`WaitKind`]) is what the
//! engine and the reports use (log once per kind, delay decomposition); the sentence is
//! made from the layer's or policy's own data for people and never parsed back.

use std::fmt;

/// The kind of a wait: what the group is waiting for.
///
/// Each layer maps its reasons onto these so that one group's consecutive waits of the
/// same family have the same kind (the engine logs a wait again only when its kind
/// changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum WaitKind {
    /// The VC's share is used up: its guaranteed cells (`hived`, `isolated`) or its
    /// maximum capacity (`yarn-cs`) are busy. Fair-share delay.
    Quota,
    /// Not enough free GPUs (of the usable type) where the group may run.
    Capacity,
    /// Enough free GPUs, but not in the shape a one-pod group needs (fragmentation).
    Shape,
    /// Enough free GPUs, but not in the shape the pods of a gang need at once.
    Gang,
    /// The group would fit if bad (or absent) nodes were healthy.
    BadNode,
    /// Preempted groups are still leaving the cells the group will get.
    Preempting,
    /// A group ahead of it in the queue holds a reservation it may not delay (EASY).
    Reservation,
    /// Behind other groups in the queue (strict order), or any other reason.
    Queue,
}

impl WaitKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [WaitKind; 8] = [
        WaitKind::Quota,
        WaitKind::Capacity,
        WaitKind::Shape,
        WaitKind::Gang,
        WaitKind::BadNode,
        WaitKind::Preempting,
        WaitKind::Reservation,
        WaitKind::Queue,
    ];

    /// The kind's name in reports and files (`quota`, `capacity`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitKind::Quota => "quota",
            WaitKind::Capacity => "capacity",
            WaitKind::Shape => "shape",
            WaitKind::Gang => "gang",
            WaitKind::BadNode => "bad_node",
            WaitKind::Preempting => "preempting",
            WaitKind::Reservation => "reservation",
            WaitKind::Queue => "queue",
        }
    }

    /// Index of the kind in [`WaitKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a group waits: a typed kind, the numbers a policy may act on, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// What the group waits for.
    pub kind: WaitKind,
    /// GPUs the group needs.
    pub needed_gpus: u64,
    /// GPUs free to the group now (in its VC or the cluster), where the layer knows:
    /// `needed_gpus - free_gpus` is what a preemption would have to free.
    pub free_gpus: Option<u64>,
    /// The reason for people (event log, reports). Never parsed.
    pub sentence: String,
}

impl Wait {
    /// A wait of `kind` for `needed_gpus` GPUs with `free_gpus` free and a sentence.
    pub fn new(kind: WaitKind, needed_gpus: u64, free_gpus: Option<u64>, sentence: String) -> Wait {
        Wait {
            kind,
            needed_gpus,
            free_gpus,
            sentence,
        }
    }

    /// GPUs that would have to come free for the group to fit by count, if known.
    pub fn shortfall_gpus(&self) -> Option<u64> {
        self.free_gpus
            .map(|free| self.needed_gpus.saturating_sub(free))
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sentence)
    }
}
