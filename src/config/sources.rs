//! Turning a TOML document and environment variables into (key, value) pairs; no
//! validation here beyond the shape of the input.

use super::error::ConfigError;

/// The environment variable that names the config file; the loader skips it.
pub const CONFIG_PATH_ENV: &str = "AEON_CONFIG";

/// The config file `cargo run` uses, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/aeon.toml";

/// `(variable, key, value)` for every `AEON_*` variable except [`CONFIG_PATH_ENV`]:
/// `AEON_LOG_DIRS` names `log.dirs` (strip `AEON_`, lowercase, `_` -> `.`).
pub fn env_pairs(env: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String, String)> {
    env.into_iter()
        .filter(|(var, _)| var != CONFIG_PATH_ENV)
        .filter_map(|(var, value)| {
            let key = var
                .strip_prefix("AEON_")?
                .to_ascii_lowercase()
                .replace('_', ".");
            Some((var, key, value))
        })
        .collect()
}

/// Flattens nested TOML tables into dotted names, so `log.dirs = ..` (a TOML dotted key,
/// i.e. nested tables) and `"log.dirs" = ..` both give `log.dirs`.
pub fn flatten_toml(table: &toml::Table) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    flatten(table, "", &mut out)?;
    Ok(out)
}

/// Leaves must be strings, integers, booleans or floats. Floats keep their decimal
/// point, so `1.0` is not taken for an integer.
fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let text = match value {
            toml::Value::Table(inner) => {
                flatten(inner, &key, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => format!("{f:?}"),
            other => {
                return Err(ConfigError::invalid(
                    &key,
                    "a string, an integer or a boolean",
                    &other.to_string(),
                ))
            }
        };
        out.push((key, text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_map_aeon_variables_to_dotted_keys() {
        let env = [
            ("AEON_LOG_DIRS", "/x"),
            ("AEON_CONFIG", "aeon.toml"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            env_pairs(env),
            vec![(
                "AEON_LOG_DIRS".to_owned(),
                "log.dirs".to_owned(),
                "/x".to_owned()
            )]
        );
    }

    #[test]
    fn toml_floats_do_not_pass_for_integers() {
        let table: toml::Table = "a.b = 1.0".parse().expect("toml");
        let pairs = flatten_toml(&table).expect("flat");
        assert_eq!(pairs, vec![("a.b".to_owned(), "1.0".to_owned())]);
    }
}
