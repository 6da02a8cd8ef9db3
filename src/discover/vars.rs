//! The node's variables: the process environment, then the environment file
//! (`/etc/environment.sso` on a compute instance). Only the variables discovery needs are kept,
//! and nothing named like a credential is ever read.

use std::collections::HashMap;
use std::path::Path;

use super::{Found, Source};

const KNOWN: &[&str] = &[
    "CI_NAME",
    "CI_WORKSPACE",
    "CI_RESOURCE_GROUP",
    "MLFLOW_TRACKING_URI",
    "AZUREML_ARM_SUBSCRIPTION",
    "AZUREML_ARM_RESOURCEGROUP",
    "AZUREML_ARM_WORKSPACE_NAME",
    "AZUREML_WORKSPACE_ID",
    "AZ_BATCHAI_CLUSTER_NAME",
    "AZ_BATCH_NODE_ID",
    "AZ_BATCH_ACCOUNT_URL",
    "AZUREML_SERVICE_ENDPOINT",
    "DATABRICKS_RUNTIME_VERSION",
];

/// Whether discovery reads a variable: the known ones, and Batch or Azure ML variables that
/// name an endpoint (`…_URL`, `…_URI`, `…_ENDPOINT`, `…_HOST`). Nothing named like a
/// credential is ever read.
pub fn wanted(name: &str) -> bool {
    if KNOWN.contains(&name) {
        return true;
    }
    let secret = ["TOKEN", "KEY", "SECRET", "PASSWORD", "SAS", "SIG", "CRED"]
        .iter()
        .any(|w| name.contains(w));
    let family = name.starts_with("AZ_BATCH_") || name.starts_with("AZUREML_");
    let endpoint = ["_URL", "_URI", "_ENDPOINT", "_HOST"]
        .iter()
        .any(|s| name.ends_with(s));
    family && endpoint && !secret
}

/// Variables from the process environment, then from the environment file, with their source.
pub struct Variables {
    env: HashMap<String, String>,
    file: HashMap<String, String>,
    file_path: String,
}

impl Variables {
    /// `file` is the environment file's path and its text (if it could be read).
    pub fn new(
        env: impl Iterator<Item = (String, String)>,
        file: Option<(String, String)>,
        warnings: &mut Vec<String>,
    ) -> Variables {
        let env = env
            .filter(|(k, v)| wanted(k) && !v.trim().is_empty())
            .collect();
        let (file_path, file) = match file {
            Some((path, text)) => {
                let vars = parse_env_file(&text, &path, warnings);
                (path, vars)
            }
            None => (String::new(), HashMap::new()),
        };
        Variables {
            env,
            file,
            file_path,
        }
    }

    /// A variable's value and its source (the environment, else the file).
    pub fn get(&self, name: &str) -> Option<Found<String>> {
        if let Some(v) = self.env.get(name) {
            return Some(Found::new(v.clone(), Source::Env(name.to_string())));
        }
        let v = self.file.get(name)?;
        Some(Found::new(v.clone(), Source::File(self.file_path.clone())))
    }

    /// What a variable's presence shows, whatever its value.
    pub fn shows<T>(&self, name: &str, value: T) -> Option<Found<T>> {
        self.get(name).map(|found| found.with(value))
    }

    /// A variable's value, trimmed and parsed. A variable that is present but malformed is a
    /// warning, never a value.
    pub fn valid<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
        warnings: &mut Warnings,
    ) -> Option<Found<T>> {
        let found = self.get(name)?;
        checked(name, &found, |v| parse(v.trim()), warnings)
    }

    /// The first of `names` whose value is valid; each malformed one before it is a warning.
    pub fn first_valid<T>(
        &self,
        names: &[&str],
        parse: fn(&str) -> Result<T, String>,
        warnings: &mut Warnings,
    ) -> Option<Found<T>> {
        names
            .iter()
            .find_map(|name| self.valid(name, parse, warnings))
    }

    /// The first thing `pick` finds in a value, the variables taken in the order of their names.
    pub fn find<T>(&self, pick: impl Fn(&str) -> Option<T>) -> Option<Found<T>> {
        let mut names: Vec<&String> = self.env.keys().chain(self.file.keys()).collect();
        names.sort();
        names.dedup();
        names.into_iter().find_map(|name| {
            let found = self.get(name)?;
            let value = pick(&found.value)?;
            Some(found.with(value))
        })
    }
}

/// Discovery's warnings. A value that failed validation may be a secret set in the wrong
/// variable, or hold one after it (`name # comment`): each warning that quotes such a value
/// also has a form that names the variable only, the one `--redact` shows.
#[derive(Debug, Default)]
pub struct Warnings {
    pub list: Vec<String>,
    /// Each warning that quotes a rejected value, and its form without the value.
    pub withheld: Vec<(String, String)>,
}

/// `found` (the value of the variable `name`) parsed, or a warning that says where the malformed
/// value came from.
pub fn checked<T>(
    name: &str,
    found: &Found<String>,
    parse: impl FnOnce(&str) -> Result<T, String>,
    warnings: &mut Warnings,
) -> Option<Found<T>> {
    match parse(&found.value) {
        Ok(value) => Some(found.with(value)),
        Err(e) => {
            let source = &found.source;
            let warning = format!("{name} from {source}: {e}; ignored");
            let withheld =
                format!("{name} from {source}: malformed value, withheld by --redact; ignored");
            warnings.list.push(warning.clone());
            warnings.withheld.push((warning, withheld));
            None
        }
    }
}

/// The environment file's path and text; a missing file is normal, an unreadable one a warning.
pub fn read_env_file(path: &Path, warnings: &mut Vec<String>) -> Option<(String, String)> {
    let label = path.display().to_string();
    match crate::input::read(path, crate::input::ENV_FILE_LIMIT) {
        Ok(bytes) => Some((label, String::from_utf8_lossy(&bytes).into_owned())),
        Err(crate::input::Refused::Missing) => None,
        Err(why) => {
            warnings.push(format!("{label}: {why}; ignored"));
            None
        }
    }
}

/// `NAME=value`, `export NAME=value`, quotes optional; comments and blank lines skipped.
pub fn parse_env_file(
    text: &str,
    path: &str,
    warnings: &mut Vec<String>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            bad += 1;
            continue;
        };
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bad += 1;
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        if wanted(k) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    if bad > 0 {
        warnings.push(format!("{path}: {bad} malformed line(s) ignored"));
    }
    out
}
