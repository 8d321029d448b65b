//! `dsconn events`: who changed what, when and from where (the audit trail), and with
//! `--follow` the changes as they commit.

use std::time::Duration;

use clap::Args;

use super::exit::CliError;
use super::output::{
    ClientOutput, errln, local_time, or_dash, outln, print_json, print_table, table,
};
use super::remote::{CommonArgs, Explained, connect};
use crate::api::events::types::{EventItem, EventsQuery};
use crate::client::StreamFrame;

/// How long `--follow` reads one stream before it reconnects (resuming where it was).
const FOLLOW_STREAM_FOR: Duration = Duration::from_secs(24 * 3600);
/// How long to wait before reconnecting a stream that broke.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only the events of this resource (a connection's id; a binding's is
    /// `<connection id>/<queue>`).
    #[arg(long = "resource", value_name = "ID")]
    pub resource_id: Option<String>,
    /// Only this kind of resource: connection, binding, enhanced_connection, queue,
    /// pool, auth_info, agent, queue_test...
    #[arg(long = "type", value_name = "TYPE")]
    pub resource_type: Option<String>,
    /// Only this action: create, update, delete, state, status, bind, grant...
    #[arg(long)]
    pub action: Option<String>,
    /// Only this actor, e.g. `ak:...`, `token:...` or `system`.
    #[arg(long)]
    pub actor: Option<String>,
    /// How many of the newest events to show (1-1000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Then keep printing new events as they commit, until interrupted.
    #[arg(long, short)]
    pub follow: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn events(args: EventsArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let filters = EventsQuery {
        resource_id: args.resource_id.clone(),
        resource_type: args.resource_type.clone(),
        action: args.action.clone(),
        actor: args.actor.clone(),
        ..EventsQuery::default()
    };
    let newest = EventsQuery {
        limit: Some(args.limit),
        order: Some("desc".to_owned()),
        ..filters.clone()
    };
    let answer = client.list_events(&newest).await.explained(&settings)?;
    let json = args.common.output == ClientOutput::Json;
    if json && !args.follow {
        print_json(&answer.raw);
        return Ok(());
    }
    let mut shown: Vec<EventItem> = answer.value.events;
    shown.reverse();
    let mut last = shown.last().map(|event| event.id);
    if json {
        for event in &shown {
            print_event_json(event);
        }
    } else if shown.is_empty() && !args.follow {
        errln!("no events in project {}", settings.project);
    } else {
        print_events_table(&shown, args.common.output == ClientOutput::Wide);
    }
    if !args.follow {
        return Ok(());
    }
    // The stream starts after the newest event shown, so none is missed or repeated.
    let after = last.or(Some(0));
    let mut resume = after;
    loop {
        let mut stream = match client
            .event_stream(&filters, resume, FOLLOW_STREAM_FOR)
            .await
        {
            Ok(stream) => stream,
            Err(error) => return Err(error).explained(&settings),
        };
        loop {
            match stream.next().await {
                Ok(Some(StreamFrame::Change(event))) => {
                    last = Some(event.id);
                    if json {
                        print_event_json(&event);
                    } else {
                        print_event_line(&event);
                    }
                }
                Ok(Some(StreamFrame::Ready { .. } | StreamFrame::Heartbeat)) => {}
                Ok(Some(StreamFrame::Dropped(reason))) => {
                    errln!("the server dropped the stream ({reason}); resuming");
                    break;
                }
                Ok(None) => break,
                Err(error) => {
                    errln!("{error}; resuming");
                    break;
                }
            }
        }
        resume = last.or(after);
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

fn print_event_json(event: &EventItem) {
    outln!("{}", serde_json::to_string(event).unwrap_or_default());
}

fn print_events_table(events: &[EventItem], wide: bool) {
    let mut rows = table();
    let mut header = vec![
        "ID", "TIME", "ACTOR", "FROM", "RESOURCE", "ACTION", "CHANGES",
    ];
    if wide {
        header.push("REQUEST ID");
    }
    rows.set_header(header);
    for event in events {
        let mut row = vec![
            event.id.to_string(),
            local_time(event.time),
            event.actor.clone(),
            or_dash(event.client.as_deref().unwrap_or_default()),
            format!("{} {}", event.resource_type, event.resource_id),
            event.action.clone(),
            changes_text(&event.changes),
        ];
        if wide {
            row.push(or_dash(event.request_id.as_deref().unwrap_or_default()));
        }
        rows.add_row(row);
    }
    print_table(&rows);
}

fn print_event_line(event: &EventItem) {
    outln!(
        "{} {} {} {} {} {} {}",
        event.id,
        local_time(event.time),
        event.actor,
        or_dash(event.client.as_deref().unwrap_or_default()),
        format_args!("{} {}", event.resource_type, event.resource_id),
        event.action,
        changes_text(&event.changes)
    );
}

/// `field: before -> after`, one per changed field.
pub(super) fn changes_text(changes: &serde_json::Value) -> String {
    let Some(fields) = changes.as_object() else {
        return String::new();
    };
    let side = |sides: &serde_json::Value, name: &str| {
        sides.get(name).map(|value| match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    };
    fields
        .iter()
        .map(
            |(field, sides)| match (side(sides, "before"), side(sides, "after")) {
                (Some(before), Some(after)) => format!("{field}: {before} -> {after}"),
                (None, Some(after)) => format!("{field}: {after}"),
                (Some(before), None) => format!("{field}: was {before}"),
                (None, None) => field.clone(),
            },
        )
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_before_and_after() {
        let changes = serde_json::json!({
            "state": {"before": "CREATING", "after": "ACTIVE"},
            "queues": {"after": ["q1"]},
            "route": {"before": "r1"},
        });
        assert_eq!(
            changes_text(&changes),
            "state: CREATING -> ACTIVE; queues: [\"q1\"]; route: was r1"
        );
    }
}
