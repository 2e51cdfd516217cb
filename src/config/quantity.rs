//! Kubernetes-style quantities in configs: memory (`8192Mi`, `8Gi`, `54G`) to MiB, and
//! CPU (`4`, `0.5`, `500m`) to cores. Pure functions; callers word the errors' context.

use serde_yaml_ng::Value;

const MIB: f64 = 1024.0 * 1024.0;

/// A memory value as written: with a unit (converted to MiB, rounded to the nearest MiB)
/// or a bare number whose unit the caller must decide (and say so in a warning).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Memory {
    Mib(u64),
    Bare(f64),
}

/// Parse a memory quantity. Binary suffixes `Ki Mi Gi Ti Pi Ei` and decimal `k M G T P E`
/// as in Kubernetes; a string without suffix is bytes, a YAML number is [`Memory::Bare`].
pub(crate) fn memory(value: &Value) -> Result<Memory, String> {
    const FIX: &str = "write it with a unit, e.g. 8192Mi or 8Gi";
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Memory::Bare(x)),
            _ => Err(format!("memory must not be negative, got {n}; {FIX}")),
        },
        Value::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let (number, suffix) = s.split_at(split);
            let amount: f64 = number
                .parse()
                .map_err(|_| format!("cannot read {s:?} as a memory size; {FIX}"))?;
            let factor = match suffix {
                "" => 1.0,
                "Ki" => 1024.0,
                "Mi" => MIB,
                "Gi" => MIB * 1024.0,
                "Ti" => MIB * 1024.0 * 1024.0,
                "Pi" => MIB * 1024.0 * 1024.0 * 1024.0,
                "Ei" => MIB * 1024.0 * 1024.0 * 1024.0 * 1024.0,
                "k" => 1e3,
                "M" => 1e6,
                "G" => 1e9,
                "T" => 1e12,
                "P" => 1e15,
                "E" => 1e18,
                other => {
                    return Err(format!("unknown memory unit {other:?} in {s:?}; {FIX}"));
                }
            };
            let mib = (amount * factor / MIB).round();
            if !mib.is_finite() || mib >= u64::MAX as f64 {
                return Err(format!("memory {s:?} is too large"));
            }
            Ok(Memory::Mib(mib as u64))
        }
        other => Err(format!(
            "memory must be a size such as 8192Mi, found {}",
            super::yaml::describe(other)
        )),
    }
}

/// Parse a CPU amount in cores: a number, or a string such as `4`, `0.5` or `500m`.
pub(crate) fn cpu_cores(value: &Value) -> Result<f64, String> {
    const FIX: &str = "write the number of cores, e.g. 4 or 0.5";
    let cores = match value {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("cannot read {n} as cores; {FIX}"))?,
        Value::String(s) => {
            let s = s.trim();
            match s.strip_suffix('m') {
                Some(milli) => milli.parse::<f64>().map(|m| m / 1000.0),
                None => s.parse::<f64>(),
            }
            .map_err(|_| format!("cannot read {s:?} as cores; {FIX}"))?
        }
        other => {
            return Err(format!(
                "cpu must be a number of cores, found {}",
                super::yaml::describe(other)
            ));
        }
    };
    if cores.is_finite() && cores >= 0.0 {
        Ok(cores)
    } else {
        Err(format!(
            "cpu must be a non-negative number of cores, got {cores}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn memory_units_convert_to_mib() {
        assert_eq!(memory(&v("8192Mi")), Ok(Memory::Mib(8192)));
        assert_eq!(memory(&v("4096Mi")), Ok(Memory::Mib(4096)));
        assert_eq!(memory(&v("8Gi")), Ok(Memory::Mib(8192)));
        assert_eq!(memory(&v("54Gi")), Ok(Memory::Mib(55296)));
        assert_eq!(memory(&v("1048576Ki")), Ok(Memory::Mib(1024)));
        assert_eq!(memory(&v("1G")), Ok(Memory::Mib(954)));
        assert_eq!(memory(&v("0.5Gi")), Ok(Memory::Mib(512)));
        assert_eq!(memory(&v("50")), Ok(Memory::Bare(50.0)));
    }

    #[test]
    fn memory_rejects_unknown_units_and_negatives() {
        assert!(
            memory(&v("8GB"))
                .unwrap_err()
                .contains("unknown memory unit")
        );
        assert!(memory(&v("-1")).is_err());
        assert!(memory(&v("lots")).is_err());
        assert!(memory(&v("[1]")).is_err());
    }

    #[test]
    fn cpu_accepts_numbers_and_millicores() {
        assert_eq!(cpu_cores(&v("4")), Ok(4.0));
        assert_eq!(cpu_cores(&v("0.5")), Ok(0.5));
        assert_eq!(cpu_cores(&v("\"500m\"")), Ok(0.5));
        assert!(cpu_cores(&v("-2")).is_err());
        assert!(cpu_cores(&v("many")).is_err());
    }
}
