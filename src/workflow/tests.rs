//! Workflow parsing and validation: every refusal names its block.

use std::collections::HashMap;

use super::*;

fn types() -> HashMap<String, BlockType> {
    let mut types = HashMap::new();
    types.insert(
        "quote".to_string(),
        BlockType::action("quote").output("price", ValueType::Number),
    );
    types.insert(
        "size".to_string(),
        BlockType::action("size")
            .input("price", ValueType::Number)
            .output("qty", ValueType::Number)
            .output("note", ValueType::String),
    );
    types.insert(
        "order".to_string(),
        BlockType::action("order").input("qty", ValueType::Number),
    );
    types
}

const GOOD: &str = r#"{
  "id": "trade",
  "blocks": [
    {"id": "order", "category": "execution", "type": "order", "inputs": {"qty": "size.qty"}},
    {"id": "size", "category": "risk", "type": "size", "inputs": {"price": "quote.price"}},
    {"id": "quote", "category": "data", "type": "quote"}
  ]
}"#;

fn invalid(json: &str) -> (String, String) {
    match Workflow::from_json(json).unwrap().validate(&types()) {
        Err(Error::InvalidWorkflow { block, reason, .. }) => (block, reason),
        other => panic!("expected InvalidWorkflow, got {other:?}"),
    }
}

#[test]
fn blocks_run_in_data_order() {
    let wf = Workflow::from_json(GOOD).unwrap();
    let order: Vec<&str> = wf
        .validate(&types())
        .unwrap()
        .into_iter()
        .map(|i| wf.blocks[i].id.as_str())
        .collect();
    assert_eq!(order, ["quote", "size", "order"]);
}

#[test]
fn toml_and_json_give_the_same_workflow() {
    let toml = r#"
id = "trade"
[[blocks]]
id = "order"
category = "execution"
type = "order"
inputs = { qty = "size.qty" }
[[blocks]]
id = "size"
category = "risk"
type = "size"
inputs = { price = "quote.price" }
[[blocks]]
id = "quote"
category = "data"
type = "quote"
"#;
    assert_eq!(
        Workflow::from_toml(toml).unwrap(),
        Workflow::from_json(GOOD).unwrap()
    );
}

#[test]
fn malformed_files_report_line_and_column() {
    let json = "{\n  \"id\": \"x\",\n  \"blocks\": [,]\n}";
    match Workflow::from_json(json) {
        Err(Error::WorkflowParse {
            format,
            line,
            column,
            ..
        }) => assert_eq!((format, line, column), ("json", 3, 14)),
        other => panic!("{other:?}"),
    }
    let toml = "id = \"x\"\nblocks = [\n  { id = }\n]\n";
    match Workflow::from_toml(toml) {
        Err(Error::WorkflowParse {
            format,
            line,
            column,
            ..
        }) => {
            assert_eq!((format, line), ("toml", 3));
            assert!(column > 1);
        }
        other => panic!("{other:?}"),
    }
    // An unknown field is refused too, with its place.
    match Workflow::from_json("{\"id\": \"x\", \"blocks\": [], \"colour\": 1}") {
        Err(Error::WorkflowParse {
            line: 1, message, ..
        }) => assert!(message.contains("colour")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_type_names_the_block() {
    let (block, reason) = invalid(r#"{"id": "w", "blocks": [{"id": "a", "type": "nope"}]}"#);
    assert_eq!(block, "a");
    assert!(reason.contains("unknown block type \"nope\""), "{reason}");
}

#[test]
fn a_missing_input_names_the_block() {
    let (block, reason) = invalid(
        r#"{"id": "w", "blocks": [{"id": "q", "type": "quote"}, {"id": "s", "type": "size"}]}"#,
    );
    assert_eq!(block, "s");
    assert!(reason.contains("missing input \"price\""), "{reason}");
}

#[test]
fn a_type_mismatch_names_the_block() {
    let (block, reason) = invalid(
        r#"{"id": "w", "blocks": [
            {"id": "q", "type": "quote"},
            {"id": "s", "type": "size", "inputs": {"price": "q.price"}},
            {"id": "o", "type": "order", "inputs": {"qty": "s.note"}}]}"#,
    );
    assert_eq!(block, "o");
    assert!(reason.contains("type mismatch"), "{reason}");
}

#[test]
fn bad_references_name_the_block() {
    for (json, want) in [
        (
            r#"{"id": "w", "blocks": [{"id": "o", "type": "order", "inputs": {"qty": "ghost.qty"}}]}"#,
            "unknown block \"ghost\"",
        ),
        (
            r#"{"id": "w", "blocks": [{"id": "q", "type": "quote"}, {"id": "o", "type": "order", "inputs": {"qty": "q.volume"}}]}"#,
            "has no output \"volume\"",
        ),
        (
            r#"{"id": "w", "blocks": [{"id": "o", "type": "order", "inputs": {"qty": "noblock"}}]}"#,
            "is not \"block.output\"",
        ),
        (
            r#"{"id": "w", "blocks": [{"id": "q", "type": "quote", "inputs": {"extra": "q.price"}}]}"#,
            "input \"extra\" is not declared",
        ),
        (
            r#"{"id": "w", "blocks": [{"id": "q", "type": "quote", "outputs": ["volume"]}]}"#,
            "output \"volume\" is not declared",
        ),
    ] {
        let (block, reason) = invalid(json);
        assert!(!block.is_empty());
        assert!(reason.contains(want), "{reason} should contain {want}");
    }
}

#[test]
fn a_cycle_is_named_with_its_blocks() {
    let (block, reason) = invalid(
        r#"{"id": "w", "blocks": [
            {"id": "a", "type": "size", "inputs": {"price": "b.qty"}},
            {"id": "b", "type": "size", "inputs": {"price": "a.qty"}}]}"#,
    );
    assert!(block == "a" || block == "b");
    assert!(reason.starts_with("cycle: "), "{reason}");
    assert!(
        reason.contains("a -> b") || reason.contains("b -> a"),
        "{reason}"
    );
}

#[test]
fn duplicate_and_empty_ids_are_refused() {
    let (block, reason) = invalid(
        r#"{"id": "w", "blocks": [{"id": "q", "type": "quote"}, {"id": "q", "type": "quote"}]}"#,
    );
    assert_eq!(
        (block.as_str(), reason.as_str()),
        ("q", "duplicate block id")
    );
    let (_, reason) = invalid(r#"{"id": "w", "blocks": []}"#);
    assert!(reason.contains("at least one block"));
    let (_, reason) = invalid(r#"{"id": " ", "blocks": [{"id": "q", "type": "quote"}]}"#);
    assert!(reason.contains("empty workflow id"));
}
