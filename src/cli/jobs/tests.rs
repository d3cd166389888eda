//! Unit tests of jobs-file parsing: what a good file becomes.

use super::parse;

#[test]
fn every_section_parses() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jobs.toml"))
        .expect("the example jobs file");
    let jobs = parse(&text).unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(jobs.setup.len(), 1);
    assert_eq!(jobs.task.len(), 4);
    assert_eq!(jobs.service.len(), 1);
    assert_eq!(jobs.launch.len(), 1);
    assert_eq!(jobs.schedule.len(), 2);
    assert_eq!(jobs.pool.len(), 1);
    assert_eq!(jobs.pool[0].requests, ["hello", "world"]);
    assert_eq!(jobs.settings.max_concurrency, Some(8));
}

#[test]
fn an_empty_file_is_an_empty_job_list() {
    let jobs = parse("").unwrap_or_else(|e| panic!("{}", e.message));
    assert!(jobs.task.is_empty() && jobs.schedule.is_empty());
}

#[test]
fn queues_are_declared_and_tasks_name_them_with_a_priority() {
    let text = r#"
[[queue]]
name = "reports"
concurrency = 2
rate = "100/1s"

[[queue]]
name = "mail"
rate = "5/m"

[[launch]]
name = "l"
shell = "true"
queue = "reports"
priority = "high"

[[schedule]]
name = "s"
every = "1m"
shell = "true"
queue = "mail"
priority = "low"
"#;
    let jobs = parse(text).unwrap_or_else(|e| panic!("{}", e.message));
    let specs: Vec<_> = jobs.queue.iter().map(|q| q.spec().ok().unwrap()).collect();
    assert_eq!(
        specs[0],
        crate::QueueSpec::new("reports")
            .concurrency(2)
            .rate(100, std::time::Duration::from_secs(1))
    );
    assert_eq!(
        specs[1],
        crate::QueueSpec::new("mail").rate(5, std::time::Duration::from_secs(60))
    );
    let task = jobs.launch[0].task();
    assert_eq!(task.job().queue.as_deref(), Some("reports"));
    assert_eq!(task.job().priority, crate::Priority::High);
    let spec = jobs.schedule[0].spec().ok().unwrap();
    assert_eq!(spec.task().job().queue.as_deref(), Some("mail"));
    assert_eq!(spec.task().job().priority, crate::Priority::Low);
}
