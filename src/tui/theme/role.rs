//! Colour roles: the names a theme gives its colours, by meaning (`muted`, `warn`, `loss`…), and
//! which base role stands in for a derived one a theme leaves out. Owns the list of roles; must
//! never hold a colour or know what the terminal shows.

/// A colour's meaning; themes assign colours to these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Normal text.
    Fg,
    /// Screen background (`reset` = the terminal's own).
    Bg,
    /// Secondary text: labels, units.
    Muted,
    /// Barely-there text and lines: raw curves, empty bar parts.
    Faint,
    /// Emphasis: the current value, the focused panel.
    Accent,
    /// Healthy state: running, finished, test accuracy.
    Good,
    /// Needs attention: paused, warnings.
    Warn,
    /// Failure.
    Bad,
    /// Panel borders.
    Border,
    /// Panel titles.
    Title,
    /// Background of the current stage and selected rows.
    Highlight,
    /// Train loss curve (smoothed).
    Loss,
    /// Raw train loss drawn under the smoothed one.
    LossRaw,
    /// Train accuracy curve.
    TrainAcc,
    /// Test accuracy curve.
    TestAcc,
    /// Measured gradient noise scale.
    Noise,
    /// Batch size.
    Batch,
    /// Stage-change markers on the curves.
    Marker,
    /// Background of even stages in the timeline.
    StageA,
    /// Background of odd stages in the timeline.
    StageB,
}

impl Role {
    /// Every role, in palette order.
    pub const ALL: [Role; 20] = [
        Role::Fg,
        Role::Bg,
        Role::Muted,
        Role::Faint,
        Role::Accent,
        Role::Good,
        Role::Warn,
        Role::Bad,
        Role::Border,
        Role::Title,
        Role::Highlight,
        Role::Loss,
        Role::LossRaw,
        Role::TrainAcc,
        Role::TestAcc,
        Role::Noise,
        Role::Batch,
        Role::Marker,
        Role::StageA,
        Role::StageB,
    ];

    /// The name used in theme files.
    pub fn name(self) -> &'static str {
        match self {
            Role::Fg => "fg",
            Role::Bg => "bg",
            Role::Muted => "muted",
            Role::Faint => "faint",
            Role::Accent => "accent",
            Role::Good => "good",
            Role::Warn => "warn",
            Role::Bad => "bad",
            Role::Border => "border",
            Role::Title => "title",
            Role::Highlight => "highlight",
            Role::Loss => "loss",
            Role::LossRaw => "loss_raw",
            Role::TrainAcc => "train_acc",
            Role::TestAcc => "test_acc",
            Role::Noise => "noise",
            Role::Batch => "batch",
            Role::Marker => "marker",
            Role::StageA => "stage_a",
            Role::StageB => "stage_b",
        }
    }

    /// The role whose colour is used when a theme leaves this one out.
    pub(super) fn fallback(self) -> Option<Role> {
        Some(match self {
            Role::Border | Role::LossRaw | Role::StageA => Role::Faint,
            Role::Title | Role::Loss | Role::Batch | Role::Highlight => Role::Accent,
            Role::TrainAcc | Role::StageB => Role::Muted,
            Role::TestAcc => Role::Good,
            Role::Noise | Role::Marker => Role::Warn,
            _ => return None,
        })
    }

    /// Where the role sits in a palette.
    pub(super) fn index(self) -> usize {
        Role::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// The role a theme file's colour name means.
    pub(super) fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}
