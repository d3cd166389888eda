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

/// The test types, the built-ins, and a sink that takes anything.
fn all_types() -> HashMap<String, BlockType> {
    let mut types = types();
    for (name, builtin) in BlockType::builtins() {
        types.insert(name.to_string(), builtin);
    }
    types.insert(
        "log".to_string(),
        BlockType::action("log").input("value", ValueType::Any),
    );
    types
}

/// A dip buyer as the original workflow executor's editor saved it.
const LEGACY: &str = r#"{
  "name": "btc-dip-buyer",
  "description": "Buy when the price dips under 60k.",
  "blocks": [
    {"id": "quote", "name": "Price feed", "category": "data", "type": "quote",
     "properties": {"symbol": "BTC-USD"}, "config": {"timeout_ms": 2000},
     "inputs": [], "outputs": [{"name": "price", "type": "number"}]},
    {"id": "dip", "name": "Under 60k?", "category": "conditions", "type": "compare",
     "properties": {"op": "<", "than": 60000}, "config": {},
     "inputs": [{"name": "value", "type": "number", "from": "quote.price"}],
     "outputs": [{"name": "true", "type": "any"}, {"name": "false", "type": "any"}]},
    {"id": "size", "name": "Position size", "category": "risk", "type": "size",
     "properties": {}, "config": {},
     "inputs": [{"name": "price", "type": "number", "from": "dip.true"}],
     "outputs": [{"name": "qty", "type": "number"}]},
    {"id": "order", "name": "Buy", "category": "execution", "type": "order",
     "properties": {"side": "buy"}, "config": {"venue": "paper"},
     "inputs": [{"name": "qty", "type": "number", "from": "size.qty"}], "outputs": []},
    {"id": "wait", "name": "Log and wait", "category": "actions", "type": "log",
     "properties": {}, "config": {},
     "inputs": [{"name": "value", "type": "any", "from": "dip.false"}], "outputs": []},
    {"id": "start", "name": "Start", "category": "triggers", "type": "manual",
     "properties": {"payload": {"user": "ops"}}, "config": {}, "inputs": [],
     "outputs": [{"name": "payload", "type": "any"}, {"name": "fired_at", "type": "number"}]}
  ]
}"#;

#[test]
fn the_original_executors_shape_maps_onto_the_same_model() {
    let legacy = Workflow::from_json(LEGACY).unwrap();
    let ours = Workflow::from_json(
        r#"{
      "id": "btc-dip-buyer",
      "description": "Buy when the price dips under 60k.",
      "blocks": [
        {"id": "quote", "name": "Price feed", "category": "data", "type": "quote",
         "outputs": ["price"], "params": {"symbol": "BTC-USD", "timeout_ms": 2000}},
        {"id": "dip", "name": "Under 60k?", "category": "conditions", "type": "compare",
         "inputs": {"value": "quote.price"}, "outputs": ["true", "false"],
         "params": {"op": "<", "than": 60000}},
        {"id": "size", "name": "Position size", "category": "risk", "type": "size",
         "inputs": {"price": "dip.true"}, "outputs": ["qty"]},
        {"id": "order", "name": "Buy", "category": "execution", "type": "order",
         "inputs": {"qty": "size.qty"}, "params": {"side": "buy", "venue": "paper"}},
        {"id": "wait", "name": "Log and wait", "category": "actions", "type": "log",
         "inputs": {"value": "dip.false"}},
        {"id": "start", "name": "Start", "category": "triggers", "type": "manual",
         "outputs": ["payload", "fired_at"], "params": {"payload": {"user": "ops"}}}
      ]}"#,
    )
    .unwrap();
    assert_eq!(legacy, ours);
    // The trigger runs first although defined last: `quote` waits for it.
    let order: Vec<&str> = legacy
        .validate(&all_types())
        .unwrap()
        .into_iter()
        .map(|i| legacy.blocks[i].id.as_str())
        .collect();
    assert_eq!(order, ["start", "quote", "dip", "size", "wait", "order"]);
    assert_eq!(legacy.upstream(&legacy.blocks[0]), ["start"]);
    // Without a name the id is "workflow"; a file gives its stem.
    let unnamed = LEGACY.replacen("\"name\": \"btc-dip-buyer\",", "", 1);
    assert_eq!(Workflow::from_json(&unnamed).unwrap().id, "workflow");
    let file = std::env::temp_dir().join(format!("dip-buyer-{}.json", std::process::id()));
    std::fs::write(&file, &unnamed).unwrap();
    let from_file = Workflow::from_file(&file);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        from_file.unwrap().id,
        format!("dip-buyer-{}", std::process::id())
    );
}

#[test]
fn unknown_fields_are_refused_naming_the_field() {
    for (json, field) in [
        (
            LEGACY.replacen(
                "\"properties\": {\"symbol\"",
                "\"colour\": 1, \"properties\": {\"symbol\"",
                1,
            ),
            "colour",
        ),
        (
            LEGACY.replacen("\"blocks\"", "\"connections\": [], \"blocks\"", 1),
            "connections",
        ),
        (
            LEGACY.replacen(
                "\"from\": \"quote.price\"",
                "\"source\": \"quote.price\"",
                1,
            ),
            "source",
        ),
        (
            LEGACY.replacen(
                "{\"name\": \"qty\", \"type\"",
                "{\"name\": \"qty\", \"unit\": \"btc\", \"type\"",
                1,
            ),
            "unit",
        ),
        (
            r#"{"id": "w", "blocks": [{"id": "q", "type": "quote", "properties": {}}]}"#
                .to_string(),
            "properties",
        ),
    ] {
        assert_ne!(json, LEGACY, "{field}: the replacement must apply");
        match Workflow::from_json(&json) {
            Err(Error::WorkflowParse { message, line, .. }) => {
                assert!(
                    message.contains(&format!("unknown field `{field}`")),
                    "{message}"
                );
                assert!(line > 0);
            }
            other => panic!("{field}: expected WorkflowParse, got {other:?}"),
        }
    }
    // A document that lost its top-level id is told which shape was read.
    match Workflow::from_json(r#"{"blocks": [{"id": "q", "type": "quote", "inputs": {}}]}"#) {
        Err(Error::WorkflowParse { message, .. }) => {
            assert!(message.contains("original executor's shape"), "{message}");
        }
        other => panic!("expected WorkflowParse, got {other:?}"),
    }
    // A port type that is no ValueType is refused too.
    let json = LEGACY.replacen("\"type\": \"number\"}]}", "\"type\": \"float\"}]}", 1);
    assert!(matches!(
        Workflow::from_json(&json),
        Err(Error::WorkflowParse { message, .. }) if message.contains("float")
    ));
}

#[test]
fn a_key_in_both_properties_and_config_is_refused() {
    let json = LEGACY.replacen(
        "\"config\": {\"venue\": \"paper\"}",
        "\"config\": {\"side\": \"sell\"}",
        1,
    );
    match Workflow::from_json(&json) {
        Err(Error::InvalidWorkflow { block, reason, .. }) => {
            assert_eq!(block, "order");
            assert!(reason.contains("\"side\""), "{reason}");
        }
        other => panic!("expected InvalidWorkflow, got {other:?}"),
    }
}

fn invalid_with(json: &str) -> (String, String) {
    match Workflow::from_json(json).unwrap().validate(&all_types()) {
        Err(Error::InvalidWorkflow { block, reason, .. }) => (block, reason),
        other => panic!("expected InvalidWorkflow, got {other:?}"),
    }
}

#[test]
fn bad_conditions_triggers_and_risk_params_name_the_block() {
    let with = |block: &str| {
        format!(
            r#"{{"id": "w", "blocks": [
            {{"id": "q", "category": "data", "type": "quote"}}, {block}]}}"#
        )
    };
    for (block, want) in [
        // A condition on an upstream block that does not exist.
        (
            r#"{"id": "c", "category": "conditions", "type": "compare",
                "inputs": {"value": "ghost.price"}, "params": {"op": ">", "than": 1}}"#,
            "refers to unknown block \"ghost\"",
        ),
        (
            r#"{"id": "c", "category": "conditions", "type": "compare",
                "inputs": {"value": "q.price"}, "params": {"op": "=>", "than": 1}}"#,
            "params.op must be one of",
        ),
        (
            r#"{"id": "c", "category": "conditions", "type": "compare",
                "inputs": {"value": "q.price"}, "params": {"op": ">", "than": "high"}}"#,
            "params.than must be a number",
        ),
        (
            r#"{"id": "c", "category": "data", "type": "compare",
                "inputs": {"value": "q.price"}, "params": {"op": ">", "than": 1}}"#,
            "belongs in category \"conditions\"",
        ),
        (
            r#"{"id": "c", "category": "conditions", "type": "size",
                "inputs": {"price": "q.price"}}"#,
            "must declare a Bool output \"result\"",
        ),
        (
            r#"{"id": "c", "category": "triggers", "type": "log", "inputs": {"value": "q.price"}}"#,
            "a trigger starts the workflow: it takes no inputs",
        ),
        (
            r#"{"id": "c", "category": "triggers", "type": "timer", "params": {"after_ms": 90000000}}"#,
            "is over a day",
        ),
        (
            r#"{"id": "c", "category": "triggers", "type": "timer", "params": {"after_ms": -1}}"#,
            "params.after_ms must be a whole number",
        ),
        // A bad direction for a risk limit.
        (
            r#"{"id": "c", "category": "risk", "type": "risk_limit", "inputs": {"value": "q.price"},
                "params": {"limit": -500, "bound": "sideways"}}"#,
            "params.bound must be \"ceiling\" or \"floor\", not \"sideways\"",
        ),
        (
            r#"{"id": "c", "category": "risk", "type": "risk_limit", "inputs": {"value": "q.price"},
                "params": {"limit": "daily_loss", "bound": "floor"}}"#,
            "has its own bound",
        ),
        (
            r#"{"id": "c", "category": "risk", "type": "risk_limit", "inputs": {"value": "q.price"},
                "params": {"limit": true}}"#,
            "params.limit must name a registered risk limit or be a number",
        ),
    ] {
        let (id, reason) = invalid_with(&with(block));
        assert_eq!(id, "c", "{reason}");
        assert!(reason.contains(want), "{reason} should contain {want}");
    }
    // Reading both branches of one condition would never run.
    let (id, reason) = invalid_with(
        r#"{"id": "w", "blocks": [
        {"id": "q", "type": "quote"},
        {"id": "c", "category": "conditions", "type": "compare",
         "inputs": {"value": "q.price"}, "params": {"op": ">", "than": 1}},
        {"id": "o", "type": "order", "inputs": {"qty": "c.true", "notional": "c.false"}}]}"#,
    );
    assert_eq!(id, "o");
    assert!(reason.contains("both branches"), "{reason}");
    // Branch outputs exist only on conditions.
    let (id, reason) = invalid_with(
        r#"{"id": "w", "blocks": [
        {"id": "q", "type": "quote"}, {"id": "o", "type": "order", "inputs": {"qty": "q.true"}}]}"#,
    );
    assert_eq!(id, "o");
    assert!(reason.contains("has no output \"true\""), "{reason}");
}

#[test]
fn compare_orders_numbers_and_matches_json() {
    use rules::{Op, evaluate};
    use serde_json::json;
    assert!(evaluate(Op::Lt, &json!(59_000), &json!(60_000)).unwrap());
    assert!(!evaluate(Op::Ge, &json!(59_000), &json!(60_000)).unwrap());
    assert!(evaluate(Op::Eq, &json!(1), &json!(1.0)).unwrap());
    assert!(evaluate(Op::Ne, &json!("buy"), &json!("sell")).unwrap());
    assert!(evaluate(Op::Gt, &json!("high"), &json!(1)).is_err());
}
