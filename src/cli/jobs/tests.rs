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
