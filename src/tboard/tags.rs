//! Which TensorBoard tags batchramp understands: a small table of word patterns that says a
//! tag is a loss, an accuracy, a learning rate or a batch size, so a PyTorch, Keras or
//! Lightning run fills the same panels as a batchramp run.
//!
//! A tag is split into lower-case words at every character that is not a letter or digit and
//! where a lower-case letter meets an upper-case one (`train/loss`, `val_acc`, `lr-SGD`,
//! `epoch_learning_rate`, `trainLoss`). A rule matches when its words appear in a row among
//! the tag's words (at the end, for rules marked so) and none of its `unless` words appear.
//! The first matching rule wins. The default table (docs/tensorboard.md shows it):
//!
//! | role          | words (in a row)                                         | unless  |
//! |---------------|----------------------------------------------------------|---------|
//! | loss          | `loss` · `nll` · `xent` · `cross entropy` · `crossentropy` | `scale` |
//! | accuracy      | `acc` · `accuracy` · `top1` · `top 1` · `acc1`              |         |
//! | learning rate | `lr` · `learning rate` · `learningrate`                   |         |
//! | batch size    | `batch size` · `batchsize` · `bs` · `batch` (last word)   |         |
//!
//! Rules are data (`serde`), so a config or theme file can put its own before these.

use serde::{Deserialize, Serialize};

/// What a tag measures, as far as batchramp's panels care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A loss (lower is better).
    Loss,
    /// An accuracy (fraction or percent).
    Accuracy,
    /// The learning rate.
    LearningRate,
    /// The batch size.
    BatchSize,
}

impl Role {
    /// Its name in prose.
    pub fn label(self) -> &'static str {
        match self {
            Role::Loss => "loss",
            Role::Accuracy => "accuracy",
            Role::LearningRate => "learning rate",
            Role::BatchSize => "batch size",
        }
    }
}

/// Which part of training a tag's values come from, from its words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `train`, `training`.
    Train,
    /// `val`, `valid`, `validation`, `eval`, `test`.
    Eval,
}

/// One pattern of the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRule {
    /// The role a matching tag has.
    pub role: Role,
    /// Lower-case words that must appear in a row.
    pub words: Vec<String>,
    /// The words must be the tag's last words.
    #[serde(default)]
    pub at_end: bool,
    /// Words that stop the rule from matching (`loss_scale` is no loss).
    #[serde(default)]
    pub unless: Vec<String>,
}

impl TagRule {
    fn new(role: Role, words: &str) -> Self {
        TagRule {
            role,
            words: words.split(' ').map(str::to_string).collect(),
            at_end: false,
            unless: Vec::new(),
        }
    }

    fn matches(&self, words: &[String]) -> bool {
        let n = self.words.len();
        if n == 0 || words.len() < n || words.iter().any(|w| self.unless.contains(w)) {
            return false;
        }
        if self.at_end {
            return words[words.len() - n..] == self.words[..];
        }
        words.windows(n).any(|w| w == &self.words[..])
    }
}

/// The ordered table of rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagTable {
    /// The rules, first match wins.
    pub rules: Vec<TagRule>,
}

impl Default for TagTable {
    fn default() -> Self {
        use Role::*;
        let mut rules = Vec::new();
        for w in ["loss", "nll", "xent", "cross entropy", "crossentropy"] {
            let mut r = TagRule::new(Loss, w);
            r.unless = vec!["scale".into()];
            rules.push(r);
        }
        for w in ["acc", "accuracy", "top1", "top 1", "acc1"] {
            rules.push(TagRule::new(Accuracy, w));
        }
        for w in ["lr", "learning rate", "learningrate"] {
            rules.push(TagRule::new(LearningRate, w));
        }
        for w in ["batch size", "batchsize", "bs"] {
            rules.push(TagRule::new(BatchSize, w));
        }
        let mut batch = TagRule::new(BatchSize, "batch");
        batch.at_end = true;
        rules.push(batch);
        TagTable { rules }
    }
}

impl TagTable {
    /// The default table with `first` tried before it (a user's own patterns).
    pub fn with_rules_first(first: Vec<TagRule>) -> Self {
        let mut table = TagTable { rules: first };
        table.rules.extend(TagTable::default().rules);
        table
    }

    /// The role of `tag`, if a rule matches.
    pub fn role(&self, tag: &str) -> Option<Role> {
        let words = words(tag);
        self.rules
            .iter()
            .find(|r| r.matches(&words))
            .map(|r| r.role)
    }
}

/// The phase a tag names, if any (`train/loss` → train, `val_acc` → eval).
pub fn phase(tag: &str) -> Option<Phase> {
    words(tag).iter().find_map(|w| match w.as_str() {
        "train" | "training" => Some(Phase::Train),
        "val" | "valid" | "validation" | "eval" | "evaluation" | "test" => Some(Phase::Eval),
        _ => None,
    })
}

/// The lower-case words of a tag (see the module comment).
pub fn words(tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in tag.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_of_common_writers_get_their_roles() {
        let t = TagTable::default();
        let cases = [
            ("loss", Some(Role::Loss)),
            ("train/loss", Some(Role::Loss)),
            ("Loss/train", Some(Role::Loss)),
            ("epoch_loss", Some(Role::Loss)),
            ("val_loss", Some(Role::Loss)),
            ("trainLoss", Some(Role::Loss)),
            ("train/cross_entropy", Some(Role::Loss)),
            ("amp/loss_scale", None),
            ("val_acc", Some(Role::Accuracy)),
            ("epoch_accuracy", Some(Role::Accuracy)),
            ("eval/top1", Some(Role::Accuracy)),
            ("lr-SGD", Some(Role::LearningRate)),
            ("lr-Adam/pg1", Some(Role::LearningRate)),
            ("epoch_learning_rate", Some(Role::LearningRate)),
            ("batch_size", Some(Role::BatchSize)),
            ("step/batch", Some(Role::BatchSize)),
            ("batch_time", None),
            ("grad_norm", None),
            ("weights/conv1", None),
        ];
        for (tag, want) in cases {
            assert_eq!(t.role(tag), want, "{tag}");
        }
    }

    #[test]
    fn phases_come_from_the_words() {
        assert_eq!(phase("train/loss"), Some(Phase::Train));
        assert_eq!(phase("val_acc"), Some(Phase::Eval));
        assert_eq!(phase("Accuracy/test"), Some(Phase::Eval));
        assert_eq!(phase("lr-SGD"), None);
        assert_eq!(words("lr-Adam/pg1"), vec!["lr", "adam", "pg1"]);
    }

    #[test]
    fn a_users_rules_come_first_and_read_from_toml() {
        let mine: TagTable =
            toml::from_str("[[rules]]\nrole = \"loss\"\nwords = [\"objective\"]\n").unwrap();
        let t = TagTable::with_rules_first(mine.rules);
        assert_eq!(t.role("train/objective"), Some(Role::Loss));
        assert_eq!(t.role("val_acc"), Some(Role::Accuracy));
    }
}
