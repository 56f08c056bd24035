//! `switchyard nodes`: the gateways sharing the config's store, read from the store itself
//! (each gateway writes its heartbeat there), so it answers even when no admin listener is
//! reachable. A gateway whose heartbeat is older than `storage.lease_secs` is gone: the others
//! have taken, or are about to take, the work it held.

use crate::queue::Node;
use std::path::Path;

pub async fn run(config: &Path, json: bool) -> anyhow::Result<bool> {
    let (loaded, store) = super::open_store(config)?;
    let nodes = store.nodes(loaded.storage.lease).await?;
    if json {
        for node in &nodes {
            println!("{}", serde_json::to_string(node)?);
        }
        return Ok(true);
    }
    print!("{}", table(&nodes));
    Ok(true)
}

/// The node list as an aligned table, newest heartbeat age in seconds.
fn table(nodes: &[Node]) -> String {
    if nodes.is_empty() {
        return "no gateway has written a heartbeat to this store in the last day\n".into();
    }
    let mut rows = vec![["ID", "HOST", "VERSION", "STATE", "HEARTBEAT", "EVENTS", "DELIVERIES"].map(String::from)];
    for n in nodes {
        rows.push([
            n.id.clone(),
            crate::telemetry::Escaped(&n.host).to_string(),
            crate::telemetry::Escaped(&n.version).to_string(),
            n.state.to_string(),
            format!("{:.1}s ago", n.heartbeat_age_ms as f64 / 1000.0),
            n.events_leased.to_string(),
            n.deliveries_leased.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..7).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_says_which_nodes_are_gone_and_what_they_hold() {
        let node = |id: &str, state: &'static str, events| Node {
            id: id.into(),
            host: "edge-1".into(),
            version: "0.1.0".into(),
            started_at_ms: 0,
            heartbeat_ms: 0,
            heartbeat_age_ms: 2_500,
            state,
            events_leased: events,
            deliveries_leased: 1,
        };
        let text = table(&[node("node-a", "live", 3), node("node-bb", "gone", 0)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID       HOST    VERSION  STATE  HEARTBEAT  EVENTS  DELIVERIES");
        assert_eq!(lines[1], "node-a   edge-1  0.1.0    live   2.5s ago   3       1");
        assert_eq!(lines[2], "node-bb  edge-1  0.1.0    gone   2.5s ago   0       1");
        assert!(table(&[]).contains("no gateway"));
    }
}
