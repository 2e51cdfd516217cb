//! Trace readers (issue 4): every format on small hand-made files, including wrong rows
//! whose errors must name file, line, column and value; the project's example traces; and
//! the real Philly and openb traces in `../shared/traces/` (skipped when absent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cellsim::workload::ingest::{DUPLICATE, LARGER_THAN_CLUSTER, OUT_OF_ORDER, UNREADABLE};
use cellsim::workload::openb::{
    CPU_ONLY_SKIPPED, FRACTIONAL_ROUNDED_UP, FRACTIONAL_SKIPPED, NEVER_SCHEDULED,
};
use cellsim::workload::philly::{ATTEMPT_WITHOUT_TIMES, JOB_NEVER_RAN};
use cellsim::workload::{
    ColumnMapping, Fractional, Ingest, OpenbOptions, ReadOptions, TraceError, TraceFormat,
    TraceJob, TraceSource, detect_format, open_trace, read_mapped, read_native, read_openb,
    read_philly_csv, read_philly_json, write_native_csv,
};

use crate::common::shared;

/// A file in a fresh temporary folder for this test.
fn temp_file(test: &str, name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cellsim-traces-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn project(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Jobs and error messages, in file order.
fn split(
    source: impl Iterator<Item = Result<TraceJob, TraceError>>,
) -> (Vec<TraceJob>, Vec<String>) {
    let (mut jobs, mut errors) = (Vec::new(), Vec::new());
    for item in source {
        match item {
            Ok(job) => jobs.push(job),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (jobs, errors)
}

#[test]
fn native_example_reads_cleanly_and_is_detected() {
    let path = project("traces/example.csv");
    assert_eq!(detect_format(&path).unwrap(), TraceFormat::Native);
    let (jobs, errors) = split(read_native(&path).unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(jobs.len(), 20);
    let resnet = &jobs[0];
    assert_eq!(
        (
            resnet.id.as_str(),
            resnet.gpus,
            resnet.priority,
            resnet.gpu_type.as_deref()
        ),
        ("train-resnet", 8, 100, Some("V100"))
    );
    let burst = jobs.iter().find(|j| j.id == "burst-1x32").unwrap();
    assert_eq!((burst.submit_ms, burst.priority), (3_600_250, -1));
    let hpo = jobs.iter().find(|j| j.id == "hpo-01").unwrap();
    assert_eq!(hpo.gpu_types(), vec!["V100", "K80"]);
    // Already sorted and without duplicates: ingest changes nothing but notes the 32-GPU
    // job when the cluster has 16 GPUs.
    let ingest = Ingest {
        max_gpus: Some(16),
        ..Ingest::default()
    };
    let out = ingest.sorted(read_native(&path).unwrap()).unwrap();
    assert_eq!(out.jobs, jobs);
    let mut stream = ingest.stream(read_native(&path).unwrap());
    let streamed: Vec<TraceJob> = stream.by_ref().map(Result::unwrap).collect();
    assert_eq!(streamed, jobs);
    assert_eq!(stream.report(), &out.report);
    assert_eq!(
        out.report.issues.keys().collect::<Vec<_>>(),
        vec![LARGER_THAN_CLUSTER]
    );
    assert_eq!(
        out.report.issues[LARGER_THAN_CLUSTER].examples,
        vec!["burst-1x32 needs 32 GPUs, the cluster has 16"]
    );
}

#[test]
fn native_wrong_rows_name_file_line_column_and_value() {
    let path = temp_file(
        "native",
        "bad.csv",
        "id,submit_s,duration_s,gpus,vc,priority,gpu_type\n\
         ok,0,60,1,a,,\n\
         n,zero,60,1,a,,\n\
         m,0,60,1\n\
         d,0,-5,1,a,,\n\
         g,0,60,0,a,,\n\
         p,0,60,1,a,urgent,\n\
         ok2,1,60,1,a,,\n",
    );
    let file = path.display().to_string();
    let (jobs, errors) = split(read_native(&path).unwrap());
    assert_eq!(
        jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        vec!["ok", "ok2"]
    );
    assert_eq!(
        errors,
        vec![
            format!(
                "{file}:3: column submit_s: value \"zero\": a time in seconds, 0 or more \
                 (e.g. 3600 or 12.5)"
            ),
            format!(
                "{file}:4: column vc: 7 fields as in the header, but the row has 4: vc, \
                 priority, gpu_type missing"
            ),
            format!(
                "{file}:5: column duration_s: value \"-5\": a duration in seconds, above 0 \
                 (e.g. 3600 or 0.5)"
            ),
            format!(
                "{file}:6: column gpus: value \"0\": a whole number of GPUs, at least 1 \
                 (e.g. 1 or 8)"
            ),
            format!(
                "{file}:7: column priority: value \"urgent\": an integer priority (below 0 \
                 is opportunistic) or a priority class: crit (120), prod (100), test (10), \
                 oppo (-1); or nothing for the default"
            ),
        ]
    );
    // Ingest keeps going and counts them.
    let out = Ingest::default()
        .sorted(read_native(&path).unwrap())
        .unwrap();
    assert_eq!(out.jobs.len(), 2);
    assert_eq!(out.report.count(UNREADABLE), 5);
    assert_eq!(out.report.issues[UNREADABLE].examples.len(), 3);
}

#[test]
fn native_header_problems_fail_at_open() {
    let missing = temp_file("native-header", "h1.csv", "id,submit_s,gpus,vc\n");
    let e = read_native(&missing).err().unwrap();
    assert_eq!((e.line, e.column.as_deref()), (1, Some("duration_s")));
    assert!(e.expected.contains("found id,submit_s,gpus,vc"), "{e}");
    let e = read_native(Path::new("/nonexistent/t.csv")).err().unwrap();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/t.csv: cannot open the trace ("),
        "{e}"
    );
}

#[test]
fn native_writer_round_trips_the_example() {
    let (jobs, _) = split(read_native(&project("traces/example.csv")).unwrap());
    let mut bytes = Vec::new();
    write_native_csv(&jobs, &mut bytes).unwrap();
    let path = temp_file(
        "roundtrip",
        "written.csv",
        std::str::from_utf8(&bytes).unwrap(),
    );
    let (back, errors) = split(read_native(&path).unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(back, jobs);
}

#[test]
fn philly_csv_wrong_rows_are_errors_and_good_rows_go_on() {
    let path = temp_file(
        "philly",
        "philly-bad.csv",
        "timestamp,duration,num_gpus,gpu_time,cluster\n\
         2017-10-09 07:01:55,66.0,1,66.0,vc1\n\
         2017-10-09 07:01:55,abc,1,66.0,vc1\n\
         2017-10-09 07:01:55,66.0\n\
         2017-10-09 07:01:55,-1.0,1,66.0,vc1\n\
         2017-10-09 07:01:55,66.0,0,0,vc1\n\
         None,66.0,1,66.0,vc1\n\
         2017-10-09 07:00:00,10.0,2,20.0,vc2\n",
    );
    let file = path.display().to_string();
    let (jobs, errors) = split(read_philly_csv(&path).unwrap());
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].id, "philly-bad-2");
    assert_eq!(
        errors,
        vec![
            format!(
                "{file}:3: column duration: value \"abc\": a duration in seconds, above 0 \
                 (e.g. 3600 or 0.5)"
            ),
            format!(
                "{file}:4: column num_gpus: 5 fields as in the header, but the row has 2: \
                 num_gpus, gpu_time, cluster missing"
            ),
            format!(
                "{file}:5: column duration: value \"-1.0\": a duration in seconds, above 0 \
                 (e.g. 3600 or 0.5)"
            ),
            format!(
                "{file}:6: column num_gpus: value \"0\": a whole number of GPUs, at least 1 \
                 (e.g. 1 or 8)"
            ),
            format!(
                "{file}:7: column timestamp: value \"None\": a date and time like \
                 2017-10-09 07:01:55 (after 1970)"
            ),
        ]
    );
    let out = Ingest::default()
        .sorted(read_philly_csv(&path).unwrap())
        .unwrap();
    let order: Vec<(&str, u64)> = out
        .jobs
        .iter()
        .map(|j| (j.id.as_str(), j.submit_ms))
        .collect();
    assert_eq!(order, vec![("philly-bad-8", 0), ("philly-bad-2", 115_000)]);
    assert_eq!(out.report.count(OUT_OF_ORDER), 1);
    assert_eq!(out.report.count(UNREADABLE), 5);
}

#[test]
fn philly_json_example_sums_attempts_and_skips_jobs_that_never_ran() {
    let path = project("traces/philly-job-log-example.json");
    assert_eq!(detect_format(&path).unwrap(), TraceFormat::PhillyJson);
    let out = Ingest::default()
        .sorted(read_philly_json(&path).unwrap())
        .unwrap();
    let jobs: Vec<(&str, u64, u64, u32, &str)> = out
        .jobs
        .iter()
        .map(|j| {
            (
                j.id.as_str(),
                j.submit_ms,
                j.duration_ms,
                j.gpus,
                j.vc.as_str(),
            )
        })
        .collect();
    // Origin is job 0002's 01:00:00; it ran 600 + 300 s on (0, then 2 + 2) GPUs.
    assert_eq!(
        jobs,
        vec![
            ("application_0000000000001_0002", 0, 900_000, 4, "vc-beta"),
            (
                "application_0000000000001_0001",
                6_535_000,
                3_600_000,
                4,
                "vc-alpha"
            ),
            (
                "application_0000000000001_0004",
                14_400_000,
                1_800_000,
                1,
                "vc-beta"
            ),
            (
                "application_0000000000001_0005",
                21_600_000,
                30_000,
                16,
                "vc-gamma"
            ),
        ]
    );
    assert_eq!(out.report.jobs_read, 4);
    assert_eq!(out.report.count(JOB_NEVER_RAN), 1);
    assert_eq!(out.report.count(ATTEMPT_WITHOUT_TIMES), 1);
    assert_eq!(
        out.report.issues[JOB_NEVER_RAN].examples,
        vec!["line 14: job application_0000000000001_0003"]
    );
    assert_eq!(out.report.count(OUT_OF_ORDER), 1);
}

#[test]
fn philly_json_bad_jobs_are_errors_but_bad_syntax_stops() {
    let path = temp_file(
        "philly-json",
        "log.json",
        r#"[
{"jobid": "a", "vc": "v", "submitted_time": "2017-10-03 01:00:00", "attempts": []},
{"jobid": "b", "submitted_time": "2017-10-03 01:00:00", "attempts": []},
{"jobid": "c", "vc": "v", "submitted_time": "2017-10-03 01:00:00",
 "attempts": [{"start_time": "2017-10-03 01:00:00", "end_time": "yesterday", "detail": []}]},
{"jobid": "d", "vc": "v", "submitted_time": "2017-10-03 01:00:00",
 "attempts": [{"start_time": "2017-10-03 01:00:00", "end_time": "2017-10-03 02:00:00",
               "detail": [{"ip": "m1", "gpus": 2}]}]},
{"jobid": "e", "vc": "v", "submitted_time": "2017-10-03 01:00:00",
 "attempts": [{"start_time": "2017-10-03 01:00:00", "end_time": "2017-10-03 02:00:00",
               "detail": [{"ip": "m1", "gpus": ["gpu0"]}]}]},
{"jobid": "f", "vc": "v" "submitted_time": "2017-10-03 01:00:00"},
{"jobid": "g"}
]"#,
    );
    let file = path.display().to_string();
    let mut reader = read_philly_json(&path).unwrap();
    let items: Vec<Result<TraceJob, TraceError>> = reader.by_ref().collect();
    let shown: Vec<String> = items
        .iter()
        .map(|i| match i {
            Ok(job) => format!("job {}", job.id),
            Err(e) => e.to_string(),
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            format!("{file}:3: column vc: a non-empty string"),
            format!(
                "{file}:4: column attempts[0].end_time: value \"yesterday\": a date and time \
                 like 2017-10-09 07:01:55 (after 1970)"
            ),
            format!(
                "{file}:6: column attempts[0].detail[0].gpus: value \"2\": an array of GPU \
                 names, e.g. [\"gpu0\", \"gpu1\"]"
            ),
            "job e".to_string(),
            format!(
                "{file}:12: valid JSON, but at column 26: expected `,` or `}}`; fix the \
                 syntax (nothing after this point is read)"
            ),
        ]
    );
    assert!(reader.stopped());
    assert_eq!(reader.skipped().count(JOB_NEVER_RAN), 1);
    // The ingest step refuses a trace it could not read to the end.
    let e = Ingest::default()
        .sorted(read_philly_json(&path).unwrap())
        .unwrap_err();
    assert_eq!(e.line, 12);
}

#[test]
fn openb_pods_become_jobs_with_every_skip_counted() {
    let path = temp_file(
        "openb",
        "pods.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
         p0,12000,16384,1,1000,,LS,Running,0,100,2\n\
         p1,6000,12288,1,460,T4|A10,LS,Running,10,100,10\n\
         p2,6000,12288,0,0,,BE,Running,20,100,20\n\
         p3,6000,12288,8,1000,V100M32,BE,Pending,30,100,\n\
         p4,6000,12288,x,1000,,BE,Running,30,100,30\n\
         p5,6000,12288,1,1500,,BE,Running,30,100,30\n\
         p6,6000,12288,1,1000,,BE,Running,50,40,50\n\
         p7,6000,12288,1,1000,,BE\n",
    );
    let file = path.display().to_string();
    let mut reader = read_openb(&path, OpenbOptions::default()).unwrap();
    let (jobs, errors) = split(reader.by_ref());
    let summary: Vec<(&str, u64, u64, u32, Option<&str>)> = jobs
        .iter()
        .map(|j| {
            (
                j.id.as_str(),
                j.submit_ms,
                j.duration_ms,
                j.gpus,
                j.gpu_type.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("p0", 0, 98_000, 1, None),
            ("p1", 10_000, 90_000, 1, Some("T4|A10")),
            ("p3", 30_000, 70_000, 8, Some("V100M32")),
        ]
    );
    assert_eq!(
        errors,
        vec![
            format!("{file}:6: column num_gpu: value \"x\": a whole number of GPUs, 0 or more"),
            format!(
                "{file}:7: column gpu_milli: value \"1500\": thousandths of each GPU, from 1 \
                 to 1000 (1000 = whole GPUs)"
            ),
            format!(
                "{file}:8: column deletion_time: value \"40\": a deletion_time after \
                 scheduled_time (50), so that the pod runs for some time"
            ),
            format!(
                "{file}:9: column pod_phase: 11 fields as in the header, but the row has 7: \
                 pod_phase, creation_time, deletion_time, scheduled_time missing"
            ),
        ]
    );
    let skipped = reader.skipped();
    assert_eq!(skipped.count(CPU_ONLY_SKIPPED), 1);
    assert_eq!(skipped.count(FRACTIONAL_ROUNDED_UP), 1);
    assert_eq!(skipped.count(NEVER_SCHEDULED), 1);
    assert_eq!(
        skipped.issues[FRACTIONAL_ROUNDED_UP].examples,
        vec!["line 3: p1 (460/1000 of a GPU)"]
    );
}

#[test]
fn mapped_example_reads_through_its_documented_mapping() {
    let path = project("traces/mapped-example.csv");
    assert_eq!(detect_format(&path).unwrap(), TraceFormat::Mapped);
    let text = "submit=submitted:datetime,end=finished:datetime,start=started:datetime,\
                gpus=gpu_count,vc=team,id=job_name,priority=tier";
    let mapping: ColumnMapping = text.parse().unwrap();
    // Without the mapping, the error says to give one.
    let e = open_trace(&path, &ReadOptions::default()).err().unwrap();
    assert!(
        e.expected
            .contains("give a column mapping (--mapping) such as submit="),
        "{e}"
    );
    let options = ReadOptions {
        mapping: Some(mapping),
        ..ReadOptions::default()
    };
    let out = Ingest::default()
        .sorted(open_trace(&path, &options).unwrap())
        .unwrap();
    let jobs: Vec<(&str, u64, u64, u32, &str, i32)> = out
        .jobs
        .iter()
        .map(|j| {
            (
                j.id.as_str(),
                j.submit_ms,
                j.duration_ms,
                j.gpus,
                j.vc.as_str(),
                j.priority,
            )
        })
        .collect();
    assert_eq!(
        jobs,
        vec![
            ("etl-train", 0, 3_600_000, 4, "research", 100),
            ("nb-alice", 300_000, 1_800_000, 1, "research", 10),
            ("ft-llm", 630_000, 14_400_000, 8, "product", 100),
            ("sweep-a", 1_800_000, 600_000, 1, "product", -1),
            ("sweep-b", 1_800_000, 600_000, 1, "product", -1),
        ]
    );
    assert!(out.report.issues.is_empty(), "{:?}", out.report.lines());
}

#[test]
fn mapped_wrong_rows_and_mapping_mismatches() {
    let path = temp_file(
        "mapped",
        "jobs.tsv",
        "1700000000\t90\t2\n1700000060\t1.5\t1\n1700000120\t-3\t1\n1700000180\t2\tmany\n",
    );
    let file = path.display().to_string();
    let mapping: ColumnMapping = "submit=#1:s,duration=#2:min,gpus=#3,header=no,delimiter=tab"
        .parse()
        .unwrap();
    assert!(!mapping.absolute_times());
    let (jobs, errors) = split(read_mapped(&path, &mapping).unwrap());
    let summary: Vec<(&str, u64, u64)> = jobs
        .iter()
        .map(|j| (j.id.as_str(), j.submit_ms, j.duration_ms))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("jobs-1", 1_700_000_000_000, 5_400_000),
            ("jobs-2", 1_700_000_060_000, 90_000)
        ]
    );
    assert_eq!(
        errors,
        vec![
            format!(
                "{file}:3: column #2: value \"-3\": a time in min, 0 or more (as the mapping says :min)"
            ),
            format!(
                "{file}:4: column #3: value \"many\": a whole number of GPUs, at least 1 (e.g. 1 or 8)"
            ),
        ]
    );
    // Unix seconds are numbers, so they are kept unless asked to start at the first submit.
    let ingest = Ingest {
        origin: cellsim::workload::TimeOrigin::FirstSubmit,
        ..Ingest::default()
    };
    let out = ingest
        .sorted(read_mapped(&path, &mapping).unwrap())
        .unwrap();
    assert_eq!(out.origin_ms, 1_700_000_000_000);
    assert_eq!(out.jobs[1].submit_ms, 60_000);
    // A mapping naming a column position past the header.
    let csv = temp_file("mapped", "h.csv", "a,b,c\n1,2,3\n");
    let wide: ColumnMapping = "submit=a,duration=b,gpus=#7".parse().unwrap();
    let e = read_mapped(&csv, &wide).err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1: column #7: a column #7 (the mapping's gpus), but the header has only 3",
            csv.display()
        )
    );
}

#[test]
fn formats_are_named_or_detected_and_mappings_only_go_with_mapped() {
    assert_eq!(
        TraceFormat::from_name("philly").unwrap(),
        TraceFormat::PhillyCsv
    );
    assert!(
        TraceFormat::from_name("csv")
            .unwrap_err()
            .to_string()
            .contains("use one of: native, philly-csv, philly, philly-json, openb, mapped")
    );
    let options = ReadOptions {
        format: Some(TraceFormat::Native),
        mapping: Some("submit=a,duration=b,gpus=c".parse().unwrap()),
        ..ReadOptions::default()
    };
    let e = open_trace(&project("traces/example.csv"), &options)
        .err()
        .unwrap();
    assert!(
        e.expected
            .contains("only with the mapped format, not native"),
        "{e}"
    );
    for (file, format) in [
        ("traces/example.csv", TraceFormat::Native),
        (
            "traces/philly-job-log-example.json",
            TraceFormat::PhillyJson,
        ),
    ] {
        let reader = open_trace(&project(file), &ReadOptions::default()).unwrap();
        assert_eq!(reader.format(), format);
    }
}

#[test]
fn real_philly_csv_has_its_known_counts() {
    let Some(path) = shared("traces/philly/philly.csv") else {
        return;
    };
    assert_eq!(detect_format(&path).unwrap(), TraceFormat::PhillyCsv);
    let (jobs, errors) = split(read_philly_csv(&path).unwrap());
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(3)]);
    assert_eq!(jobs.len(), 82_247);
    // First row: 2017-10-09 07:01:55,66.0,1,66.0,11cb48 (absolute until ingested).
    let first = &jobs[0];
    assert_eq!(
        (
            first.id.as_str(),
            first.duration_ms,
            first.gpus,
            first.vc.as_str()
        ),
        ("philly-2", 66_000, 1, "11cb48")
    );
    let mut per_vc: BTreeMap<&str, u64> = BTreeMap::new();
    for job in &jobs {
        *per_vc.entry(&job.vc).or_default() += 1;
    }
    assert_eq!(per_vc.len(), 15);
    assert_eq!(per_vc["6214e9"], 41_226);
    assert_eq!(per_vc["11cb48"], 16_091);
    assert_eq!(jobs.iter().map(|j| u64::from(j.gpus)).sum::<u64>(), 107_235);

    let started = Instant::now();
    let out = Ingest::default()
        .sorted(read_philly_csv(&path).unwrap())
        .unwrap();
    eprintln!("philly.csv read + sorted in {:?}", started.elapsed());
    // Checked once with Python's csv module: 65 exact duplicate rows; 82,242 rows submit
    // before some earlier row; the earliest submit is 2017-09-04 10:30:41 (line 31568,
    // 8 GPUs in 7f04ca); the first row is 3,011,474 s after it; in submit order, the
    // first duplicate is line 35739 repeating line 35724.
    assert_eq!(out.report.jobs_read, 82_247);
    assert_eq!(out.report.count(DUPLICATE), 65);
    assert_eq!(out.jobs.len(), 82_247 - 65);
    assert_eq!(out.report.count(OUT_OF_ORDER), 82_242);
    assert_eq!(out.report.count(UNREADABLE), 0);
    assert_eq!(
        out.report.issues[DUPLICATE].examples[0],
        "line 35739 (philly-35739) repeats line 35724"
    );
    let earliest = &out.jobs[0];
    assert_eq!(
        (
            earliest.id.as_str(),
            earliest.submit_ms,
            earliest.gpus,
            earliest.vc.as_str()
        ),
        ("philly-31568", 0, 8, "7f04ca")
    );
    let row2 = out.jobs.iter().find(|j| j.id == "philly-2").unwrap();
    assert_eq!(row2.submit_ms, 3_011_474_000);
    assert!(
        out.jobs
            .windows(2)
            .all(|w| w[0].submit_ms <= w[1].submit_ms)
    );
    // The whole Philly cluster has 2,490 GPUs: no job is larger.
    let sized = Ingest {
        max_gpus: Some(2_490),
        ..Ingest::default()
    };
    let out = sized.sorted(read_philly_csv(&path).unwrap()).unwrap();
    assert_eq!(out.report.count(LARGER_THAN_CLUSTER), 0);
    let out = Ingest {
        max_gpus: Some(64),
        ..Ingest::default()
    }
    .sorted(read_philly_csv(&path).unwrap())
    .unwrap();
    assert_eq!(out.report.count(LARGER_THAN_CLUSTER), 3);
}

#[test]
fn real_openb_default_pod_list_has_its_known_counts() {
    let Some(path) = shared("traces/openb/openb_pod_list_default.csv") else {
        return;
    };
    assert_eq!(detect_format(&path).unwrap(), TraceFormat::Openb);
    // Checked once with Python's csv module: 8,152 pods = 1,088 CPU-only + 3,078
    // fractional (gpu_milli < 1000) + 3,986 whole-GPU; openb-pod-7285 (fractional,
    // Pending) is deleted the second it is created, so it has no run time; 860 GPU pods
    // (356 of them whole-GPU) were never scheduled.
    let out = Ingest::default()
        .sorted(read_openb(&path, OpenbOptions::default()).unwrap())
        .unwrap();
    assert_eq!(out.report.count(CPU_ONLY_SKIPPED), 1_088);
    assert_eq!(out.report.count(FRACTIONAL_ROUNDED_UP), 3_077);
    assert_eq!(out.report.count(UNREADABLE), 1);
    assert!(
        out.report.issues[UNREADABLE].examples[0]
            .contains("openb_pod_list_default.csv:7287: column deletion_time: value \"12774042\"")
    );
    assert_eq!(out.report.count(NEVER_SCHEDULED), 860);
    assert_eq!(out.jobs.len(), 3_986 + 3_077);
    assert_eq!(out.report.count(DUPLICATE), 0);
    assert_eq!(out.origin_ms, 0);
    let first = &out.jobs[0];
    assert_eq!(
        (
            first.id.as_str(),
            first.submit_ms,
            first.duration_ms,
            first.gpus
        ),
        ("openb-pod-0000", 0, 12_537_496_000, 1)
    );

    let skip = OpenbOptions {
        fractional: Fractional::Skip,
        ..OpenbOptions::default()
    };
    let out = Ingest::default()
        .sorted(read_openb(&path, skip).unwrap())
        .unwrap();
    assert_eq!(out.report.count(FRACTIONAL_SKIPPED), 3_078);
    assert_eq!(out.report.count(CPU_ONLY_SKIPPED), 1_088);
    assert_eq!(out.report.count(NEVER_SCHEDULED), 356);
    assert_eq!(out.jobs.len(), 3_986);
    assert_eq!(out.jobs.iter().filter(|j| j.gpus == 8).count(), 44);
}

#[test]
fn real_openb_gpu_spec_and_untimed_samples() {
    let (Some(spec), Some(untimed)) = (
        shared("traces/openb/openb_pod_list_gpuspec33.csv"),
        shared("traces/openb/openb_pod_list_multigpu50.csv"),
    ) else {
        return;
    };
    let (jobs, errors) = split(read_openb(&spec, OpenbOptions::default()).unwrap());
    assert_eq!(errors.len(), 1);
    // Python count: 2,388 GPU pods with a gpu_spec (line 11 is the first).
    assert_eq!(jobs.iter().filter(|j| j.gpu_type.is_some()).count(), 2_388);
    let pod9 = jobs.iter().find(|j| j.id == "openb-pod-0009").unwrap();
    assert_eq!(pod9.gpu_types(), vec!["V100M16", "V100M32"]);
    let e = read_openb(&untimed, OpenbOptions::default()).err().unwrap();
    assert!(e.expected.contains("cannot be replayed"), "{e}");
}
