//! Hardware profiles: parsing (built-in names or TOML files), validation with errors naming the
//! file and the field, and the look-ups the cost model needs.
mod lookup;
mod schema;
mod validate;

pub use lookup::ArithOp;
pub use schema::*;

use std::path::Path;

/// The built-in profiles, by name, as embedded TOML.
const BUILTINS: &[(&str, &str)] = &[
    (
        "horowitz-45nm",
        include_str!("../../profiles/horowitz-45nm.toml"),
    ),
    ("ndp120", include_str!("../../profiles/ndp120.toml")),
    ("cortex-m4", include_str!("../../profiles/cortex-m4.toml")),
    (
        "cortex-m4-tflm-ref",
        include_str!("../../profiles/cortex-m4-tflm-ref.toml"),
    ),
    (
        "cortex-m4-cmsis",
        include_str!("../../profiles/cortex-m4-cmsis.toml"),
    ),
    ("phone-soc", include_str!("../../profiles/phone-soc.toml")),
];

/// Why a profile could not be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}: field `{field}`: {reason}")]
    Field {
        file: String,
        field: String,
        reason: String,
    },
    #[error(
        "unknown hardware profile `{name}`: built-ins are {known}; or give a path to a .toml file"
    )]
    Unknown { name: String, known: String },
}

/// The largest profile file read (profiles are a few kilobytes).
const MAX_PROFILE_BYTES: u64 = 1 << 20;

impl Profile {
    /// Names of the built-in profiles.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
        let text = BUILTINS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| ProfileError::Unknown {
                name: name.into(),
                known: Self::builtin_names().join(", "),
            })?;
        Profile::from_toml_str(text, &format!("built-in profile `{name}`"))
    }

    /// What `--hw` names: a built-in profile, or else a TOML file.
    pub fn resolve(name_or_path: &str) -> Result<Profile, ProfileError> {
        if Self::builtin_names().contains(&name_or_path) {
            return Profile::builtin(name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            return Profile::from_toml_file(path);
        }
        Err(ProfileError::Unknown {
            name: name_or_path.into(),
            known: Self::builtin_names().join(", "),
        })
    }

    /// Reads and validates a profile file. Errors name the file and the field.
    pub fn from_toml_file(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let read_err = |reason: String| ProfileError::Read {
            file: file.clone(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| read_err(e.to_string()))?;
        if meta.len() > MAX_PROFILE_BYTES {
            return Err(read_err(format!(
                "{} bytes; a profile is at most {MAX_PROFILE_BYTES}",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| read_err(e.to_string()))?;
        Profile::from_toml_str(&text, &file)
    }

    /// Parses and validates profile TOML; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let de = toml::de::Deserializer::parse(text).map_err(|e| ProfileError::Field {
            file: origin.into(),
            field: "(document)".into(),
            reason: one_line(&e.to_string()),
        })?;
        let profile: Profile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            ProfileError::Field {
                file: origin.into(),
                field: if field == "." {
                    "(document)".into()
                } else {
                    field
                },
                reason: one_line(&e.into_inner().to_string()),
            }
        })?;
        validate::check(&profile).map_err(|(field, reason)| ProfileError::Field {
            file: origin.into(),
            field,
            reason,
        })?;
        Ok(profile)
    }

    /// The unit named `name`.
    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.name == name)
    }

    /// The transfer between two units, in either direction.
    pub fn transfer(&self, a: &str, b: &str) -> Option<&Transfer> {
        self.transfers
            .iter()
            .find(|t| (t.from == a && t.to == b) || (t.from == b && t.to == a))
    }

    /// Every figure of the profile with its field path (for listing sources).
    pub fn figures(&self) -> Vec<(String, crate::Figure)> {
        validate::figures(self)
    }
}

/// toml errors span several lines (a source excerpt); keep the message on one.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
