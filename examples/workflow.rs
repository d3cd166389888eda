//! A small trading-style pipeline loaded from `examples/workflow.json`:
//! quote -> size -> exposure check (a risk limit) -> order -> confirm (a
//! command block). The first pass stays under the limit; the second, with
//! a bigger price, trips it, which halts the runtime: the order is never
//! placed. Every event is printed as the JSON line a dashboard would get.
//!
//! ```text
//! cargo run --example workflow
//! ```

use std::time::Duration;

use serde_json::{Value, json};
use taskorch::events::EventItem;
use taskorch::workflow::{BlockType, ValueType, Workflow};
use taskorch::{Config, Orchestrator};

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let orch = Orchestrator::start(Config::default()).await?;

    // Print the event stream as it happens.
    let mut events = orch.observe().subscribe();
    let printer = tokio::spawn(async move {
        while let Some(item) = events.next().await {
            match item {
                EventItem::Event(event) => {
                    println!("event {}", serde_json::to_string(&event).expect("json"))
                }
                EventItem::Lagged(n) => println!("event stream lagged: {n} events lost"),
            }
        }
    });

    orch.register_action("quote", |input: Value| async move {
        Ok(json!({ "price": input["params"]["price"] }))
    });
    orch.register_action("size", |input: Value| async move {
        let price = input["inputs"]["price"].as_f64().unwrap_or(0.0);
        let shares = input["params"]["shares"].as_f64().unwrap_or(0.0);
        Ok(json!({ "qty": shares, "notional": price * shares }))
    });
    orch.register_action("order", |input: Value| async move {
        Ok(json!({ "filled": input["inputs"]["qty"] }))
    });
    orch.workflows().register_block_type(
        "quote",
        BlockType::action("quote").output("price", ValueType::Number),
    );
    orch.workflows().register_block_type(
        "size",
        BlockType::action("size")
            .input("price", ValueType::Number)
            .output("qty", ValueType::Number)
            .output("notional", ValueType::Number),
    );
    orch.workflows().register_block_type(
        "order",
        BlockType::action("order")
            .input("qty", ValueType::Number)
            .input("notional", ValueType::Number)
            .output("filled", ValueType::Number),
    );
    orch.workflows().register_block_type(
        "confirm",
        BlockType::command("echo", ["filled {{filled}} shares"])
            .input("filled", ValueType::Number)
            .output("message", ValueType::String),
    );
    // Over 25,000 of exposure halts everything.
    orch.guard()
        .register_limit("max_notional", 25_000.0, true)?;

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workflow.json");
    let workflow = Workflow::from_file(path)?;
    println!("order: {:?}", orch.workflows().validate(&workflow)?);

    let report = orch.workflows().run(workflow.clone()).await?;
    println!(
        "first pass: succeeded={} confirm={:?}",
        report.succeeded, report.outputs["confirm"]["message"]
    );

    // The price jumps: 300 x 100 = 30,000 > 25,000.
    let mut hot = workflow;
    hot.blocks[0].params["price"] = json!(300.0);
    let report = orch.workflows().run(hot).await?;
    println!("second pass: succeeded={}", report.succeeded);
    for (block, status) in &report.blocks {
        println!("  {block:<9} {status:?}");
    }
    println!("halted: {:?}", orch.guard().halted());

    // Give the printer a moment to drain, then stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    orch.guard().resume();
    orch.shutdown().await?;
    printer.abort();
    Ok(())
}
