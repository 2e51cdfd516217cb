//! Jobs a model rejected, said where a person looks: a line per model on stderr and a
//! short section of the report page ([`Rejections`]), so that "finished 4 of 5" never
//! hides a job that could not run. The full list stays in `events.log` and `jobs.csv`.

use std::fmt::Write as _;

use super::plots::escape_xml;

/// How many rejected jobs are named with their reason.
pub const FIRST: usize = 3;

/// One model's rejected jobs: how many, and the first few with the model's reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    /// The model.
    pub model: String,
    /// Jobs it rejected.
    pub count: u32,
    /// Jobs it ran or tried (the run's jobs).
    pub jobs: u32,
    /// The first [`FIRST`] rejected jobs (by time), as (job id, reason).
    pub first: Vec<(String, String)>,
}

impl Rejections {
    /// No rejections yet for `model`.
    pub fn new(model: &str) -> Rejections {
        Rejections {
            model: model.to_string(),
            ..Rejections::default()
        }
    }

    /// Notes job `job`'s rejection if it is not noted yet (a job of several groups is
    /// rejected once per group).
    pub fn note(&mut self, job: &str, reason: &str) {
        if self.first.len() < FIRST && !self.first.iter().any(|(id, _)| id == job) {
            self.first.push((job.to_string(), reason.to_string()));
        }
    }

    /// The stderr line, or `None` when nothing was rejected.
    pub fn line(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let mut line = format!(
            "warning: {} rejected {} of {} job(s)",
            self.model, self.count, self.jobs
        );
        if self.first.is_empty() {
            line.push_str(" (the reasons are in events.log)");
        } else {
            let named: Vec<String> = self
                .first
                .iter()
                .map(|(job, reason)| format!("{job}: {reason}"))
                .collect();
            let _ = write!(line, ": {}", named.join("; "));
            if self.count as usize > self.first.len() {
                let _ = write!(
                    line,
                    "; and {} more (every one in a full run's events.log and jobs.csv)",
                    self.count as usize - self.first.len()
                );
            }
        }
        Some(line)
    }
}

/// The report page's section on rejected jobs; empty when no model rejected any.
pub fn rejections_html(all: &[Rejections]) -> String {
    let rejecting: Vec<&Rejections> = all.iter().filter(|r| r.count > 0).collect();
    if rejecting.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section>\n<h2>Rejected jobs</h2>\n<p>Jobs a model can never run (larger than their \
         VC or the cluster, an unknown VC, a shape that never fits) are rejected; the first \
         few with the model's reason, every one in the model's events.log and jobs.csv.</p>\n<ul>\n",
    );
    for r in rejecting {
        let _ = write!(
            out,
            "<li><b>{}</b>: {} of {} job(s) rejected",
            escape_xml(&r.model),
            r.count,
            r.jobs
        );
        if !r.first.is_empty() {
            out.push_str("<ul>");
            for (job, reason) in &r.first {
                let _ = write!(out, "<li>{}: {}</li>", escape_xml(job), escape_xml(reason));
            }
            out.push_str("</ul>");
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_jobs_are_named_once_each_and_the_rest_counted() {
        let mut r = Rejections::new("hived");
        for job in ["a", "a", "b", "c", "d"] {
            r.note(job, &format!("{job} is <too> big"));
        }
        r.count = 4;
        r.jobs = 9;
        assert_eq!(r.first.len(), FIRST);
        let line = r.line().unwrap();
        assert!(line.starts_with("warning: hived rejected 4 of 9 job(s): a: a is <too> big; b:"));
        assert!(
            line.ends_with("and 1 more (every one in a full run's events.log and jobs.csv)"),
            "{line}"
        );
        let html = rejections_html(&[r, Rejections::new("fifo")]);
        assert!(html.contains("a is &lt;too&gt; big"), "{html}");
        assert!(
            !html.contains("fifo"),
            "a model that rejected nothing is left out"
        );
        assert_eq!(rejections_html(&[Rejections::new("fifo")]), "");
        assert_eq!(Rejections::new("fifo").line(), None);
    }
}
