//! The kinds of setting: what a declaration holds (name, default, accepted values) and how its
//! text becomes a value. Every kind is built in a `const` by [`super::vars`] and read with `read`.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use super::{ConfigError, Source, optional};
use crate::secret::Secret;

/// What a declaration says about its variable, for documentation and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: &'static str,
    /// Whether `serve` refuses to start without it.
    pub required: bool,
    /// The default as text; empty when there is none.
    pub default: String,
    /// The values accepted, as text; empty when any value of the type is.
    pub accepts: String,
    /// The declaration's doc comment.
    pub doc: &'static str,
}

/// A number with a default and an inclusive range (`max: None`: no upper bound).
#[derive(Debug, Clone, Copy)]
pub struct Number<T> {
    pub name: &'static str,
    pub default: T,
    pub min: T,
    pub max: Option<T>,
    /// Why the range is what it is, appended to the error.
    pub note: Option<&'static str>,
}

impl<T: Copy> Number<T> {
    /// A number of at least `min`, no upper bound. The name is set by [`super::vars`].
    pub const fn new(default: T, min: T) -> Self {
        Self {
            name: "",
            default,
            min,
            max: None,
            note: None,
        }
    }

    pub const fn at_most(self, max: T) -> Self {
        Self {
            name: self.name,
            default: self.default,
            min: self.min,
            max: Some(max),
            note: self.note,
        }
    }

    pub const fn because(self, note: &'static str) -> Self {
        Self {
            name: self.name,
            default: self.default,
            min: self.min,
            max: self.max,
            note: Some(note),
        }
    }

    pub const fn named(self, name: &'static str) -> Self {
        Self {
            name,
            default: self.default,
            min: self.min,
            max: self.max,
            note: self.note,
        }
    }
}

impl<T> Number<T>
where
    T: FromStr + PartialOrd + Copy + Display,
    T::Err: Display,
{
    /// The value, or the default when unset. The bad value is quoted (numbers are never secret).
    pub fn read(&self, env: &dyn Source) -> Result<T, ConfigError> {
        let Some(text) = optional(env, self.name) else {
            return Ok(self.default);
        };
        let value: T = text.parse().map_err(|e| {
            ConfigError::new(
                self.name,
                format!("`{}` is not valid ({e}): {}", quoted(&text), self.range()),
            )
        })?;
        self.check(value)
    }

    /// `value` if it is in the range, else the error naming the variable and the range.
    pub fn check(&self, value: T) -> Result<T, ConfigError> {
        let in_range = value >= self.min && self.max.is_none_or(|max| value <= max);
        if in_range {
            Ok(value)
        } else {
            Err(ConfigError::new(self.name, self.range()))
        }
    }

    /// `must be between 1 and 14 (Defender allows 15)`, `must be at least 1`.
    pub fn range(&self) -> String {
        let mut text = match self.max {
            Some(max) => format!("must be between {} and {max}", self.min),
            None => format!("must be at least {}", self.min),
        };
        if let Some(note) = self.note {
            text.push_str(&format!(" ({note})"));
        }
        text
    }

    pub fn declared(&self, doc: &'static str) -> Declared {
        Declared {
            name: self.name,
            required: false,
            default: self.default.to_string(),
            accepts: self.range().replace("must be ", ""),
            doc,
        }
    }
}

/// A bad value as an error quotes it: at most 40 characters, control characters dropped (the
/// value is not a secret, but it may be anything).
fn quoted(text: &str) -> String {
    crate::text::clean_text(text, 40)
}

/// A duration in whole seconds: a [`Number`] of seconds, always bounded above (a duration added to
/// an instant must not overflow).
#[derive(Debug, Clone, Copy)]
pub struct Seconds(pub Number<u64>);

impl Seconds {
    pub const fn new(default: u64, min: u64, max: u64) -> Self {
        Self(Number::new(default, min).at_most(max))
    }

    pub const fn named(self, name: &'static str) -> Self {
        Self(self.0.named(name))
    }

    pub const fn because(self, note: &'static str) -> Self {
        Self(self.0.because(note))
    }

    pub const fn default(&self) -> Duration {
        Duration::from_secs(self.0.default)
    }

    pub fn read(&self, env: &dyn Source) -> Result<Duration, ConfigError> {
        self.0.read(env).map(Duration::from_secs)
    }

    pub fn declared(&self, doc: &'static str) -> Declared {
        self.0.declared(doc)
    }
}

/// A boolean: `true`, `1`, `yes`, `on` or `false`, `0`, `no`, `off`, any case.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub name: &'static str,
    pub default: bool,
}

impl Flag {
    pub const fn new(default: bool) -> Self {
        Self { name: "", default }
    }

    pub const fn named(self, name: &'static str) -> Self {
        Self { name, ..self }
    }

    pub fn read(&self, env: &dyn Source) -> Result<bool, ConfigError> {
        match optional(env, self.name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(self.default),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::new(
                    self.name,
                    format!("`{v}` is not true or false"),
                )),
            },
        }
    }

    pub fn declared(&self, doc: &'static str) -> Declared {
        Declared {
            name: self.name,
            required: false,
            default: self.default.to_string(),
            accepts: "true or false".into(),
            doc,
        }
    }
}

/// One of a fixed set of words, matched ignoring case and returned as declared.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    pub name: &'static str,
    pub allowed: &'static [&'static str],
    pub default: Option<&'static str>,
}

impl Choice {
    pub const fn new(allowed: &'static [&'static str], default: Option<&'static str>) -> Self {
        Self {
            name: "",
            allowed,
            default,
        }
    }

    pub const fn named(self, name: &'static str) -> Self {
        Self { name, ..self }
    }

    /// The value as declared, or the default (`None` when there is none) when unset.
    pub fn read(&self, env: &dyn Source) -> Result<Option<&'static str>, ConfigError> {
        let Some(v) = optional(env, self.name) else {
            return Ok(self.default);
        };
        self.allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(&v))
            .map(|a| Some(*a))
            .ok_or_else(|| {
                ConfigError::new(
                    self.name,
                    format!("`{v}` is not one of {}", self.allowed.join(", ")),
                )
            })
    }

    pub fn declared(&self, doc: &'static str) -> Declared {
        Declared {
            name: self.name,
            required: false,
            default: self.default.unwrap_or_default().into(),
            accepts: self.allowed.join(", "),
            doc,
        }
    }
}

/// Free text (a URL, a path, an id), optional unless declared required.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub required: bool,
}

impl Text {
    pub const OPTIONAL: Self = Self {
        name: "",
        default: None,
        required: false,
    };
    pub const REQUIRED: Self = Self {
        name: "",
        default: None,
        required: true,
    };

    pub const fn or(default: &'static str) -> Self {
        Self {
            name: "",
            default: Some(default),
            required: false,
        }
    }

    pub const fn named(self, name: &'static str) -> Self {
        Self { name, ..self }
    }

    /// The value, else the default, else `None`.
    pub fn read(&self, env: &dyn Source) -> Option<String> {
        optional(env, self.name).or_else(|| self.default.map(str::to_owned))
    }

    /// The value, or an error naming the variable when it is not set.
    pub fn require(&self, env: &dyn Source) -> Result<String, ConfigError> {
        self.read(env)
            .ok_or_else(|| ConfigError::new(self.name, "is required but not set"))
    }

    pub fn declared(&self, doc: &'static str) -> Declared {
        Declared {
            name: self.name,
            required: self.required,
            default: self.default.unwrap_or_default().into(),
            accepts: String::new(),
            doc,
        }
    }
}

/// A key, password or connection string: read into a [`Secret`], never echoed.
#[derive(Debug, Clone, Copy)]
pub struct SecretText {
    pub name: &'static str,
    pub required: bool,
}

impl SecretText {
    pub const OPTIONAL: Self = Self {
        name: "",
        required: false,
    };
    pub const REQUIRED: Self = Self {
        name: "",
        required: true,
    };

    pub const fn named(self, name: &'static str) -> Self {
        Self { name, ..self }
    }

    /// The value, or `None` when unset. A value with a control character (a newline, an escape)
    /// is refused without being echoed: a key travels in an HTTP header, where none is allowed.
    pub fn try_read(&self, env: &dyn Source) -> Result<Option<Secret>, ConfigError> {
        match optional(env, self.name) {
            Some(v) if v.chars().any(char::is_control) => Err(ConfigError::new(
                self.name,
                "holds a control character (a newline or an escape), which no key or connection string has",
            )),
            v => Ok(v.map(Secret::new)),
        }
    }

    /// [`Self::try_read`], with a malformed value read as unset (reported by `try_read` at start).
    pub fn read(&self, env: &dyn Source) -> Option<Secret> {
        self.try_read(env).ok().flatten()
    }

    pub fn require(&self, env: &dyn Source) -> Result<Secret, ConfigError> {
        self.try_read(env)?
            .ok_or_else(|| ConfigError::new(self.name, "is required but not set"))
    }

    pub fn declared(&self, doc: &'static str) -> Declared {
        Declared {
            name: self.name,
            required: self.required,
            default: String::new(),
            accepts: String::new(),
            doc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::env;
    use super::*;

    #[test]
    fn a_number_outside_its_range_names_the_variable_and_the_range() {
        let n = Number::new(3u32, 1).named("N");
        assert_eq!(n.read(&env(&[])), Ok(3));
        assert_eq!(n.read(&env(&[("N", " 7 ")])), Ok(7));
        let err = n.read(&env(&[("N", "0")])).unwrap_err();
        assert_eq!(err.to_string(), "N: must be at least 1");
        let bounded = Number::new(14u32, 1)
            .at_most(14)
            .because("Defender allows 15");
        let err = bounded.named("M").read(&env(&[("M", "15")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "M: must be between 1 and 14 (Defender allows 15)"
        );
        let err = n.read(&env(&[("N", "lots")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "N: `lots` is not valid (invalid digit found in string): must be at least 1"
        );
        let err = Seconds::new(60, 1, 300)
            .named("S")
            .read(&env(&[("S", "18446744073709551615")]))
            .unwrap_err();
        assert_eq!(err.to_string(), "S: must be between 1 and 300");
        let err = n
            .read(&env(&[("N", "99999999999999999999999")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "N: `99999999999999999999999` is not valid (number too large to fit in target type): must be at least 1"
        );
    }

    #[test]
    fn choices_match_any_case_and_blank_is_unset() {
        let c = Choice::new(&["Low", "High"], Some("Low")).named("C");
        assert_eq!(c.read(&env(&[("C", "high")])), Ok(Some("High")));
        assert_eq!(c.read(&env(&[("C", "  ")])), Ok(Some("Low")));
        assert_eq!(
            c.read(&env(&[("C", "mid")])).unwrap_err().to_string(),
            "C: `mid` is not one of Low, High"
        );
    }

    #[test]
    fn a_secret_is_never_echoed() {
        let s = SecretText::REQUIRED.named("KEY");
        assert_eq!(
            s.read(&env(&[("KEY", "hunter2")])).unwrap().expose(),
            "hunter2"
        );
        let err = s.require(&env(&[])).unwrap_err();
        assert_eq!(err.to_string(), "KEY: is required but not set");
        let flag = Flag::new(true).named("F");
        assert!(!flag.read(&env(&[("F", "Off")])).unwrap());
        assert_eq!(
            flag.read(&env(&[("F", "maybe")])).unwrap_err().variable,
            "F"
        );
    }
}
