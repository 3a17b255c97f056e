//! What the local stack reads from `template.yaml`: the HTTP routes (and the
//! binary behind each) and the DynamoDB table definition.

use serde_yaml::Value;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub binary: String,
}

#[derive(Clone, Debug)]
pub struct KeyElem {
    pub name: String,
    pub key_type: String,
}

#[derive(Clone, Debug)]
pub struct IndexDef {
    pub name: String,
    pub keys: Vec<KeyElem>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct TableDef {
    pub attributes: Vec<(String, String)>,
    pub keys: Vec<KeyElem>,
    pub indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<String>,
    /// `StreamSpecification.StreamViewType`, when the table has a stream.
    pub stream_view_type: Option<String>,
}

/// A WebSocket API route (`$connect`, `$disconnect`, `$default`, `ping`)
/// and the cargo binary its integration invokes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WsRoute {
    pub route_key: String,
    pub binary: String,
    /// A two-way route (its function's answer goes back over the socket).
    pub two_way: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDef {
    pub logical_id: String,
    pub visibility_timeout: Option<i64>,
    pub retention: Option<i64>,
    /// `(dead-letter queue logical id, maxReceiveCount)`.
    pub redrive: Option<(String, i64)>,
}

pub struct Template {
    doc: Value,
}

/// The workspace root (where `template.yaml` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn str_of(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text)
    }

    pub fn load_default() -> Result<Self, String> {
        Self::load(&workspace_root().join("template.yaml"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        Ok(Self { doc })
    }

    fn resources(&self) -> impl Iterator<Item = (String, &Value)> {
        self.doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((str_of(k)?, v)))
    }

    /// Every HttpApi route of every function, with the cargo binary behind it.
    pub fn routes(&self) -> Vec<Route> {
        let mut routes = Vec::new();
        for (_, res) in self.resources() {
            if res.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let Some(binary) = res
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(str_of)
            else {
                continue;
            };
            let events = res
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping);
            for (_, ev) in events.into_iter().flatten() {
                if ev.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let props = ev.get("Properties");
                let method = props.and_then(|p| p.get("Method")).and_then(str_of);
                let path = props.and_then(|p| p.get("Path")).and_then(str_of);
                if let (Some(method), Some(path)) = (method, path) {
                    routes.push(Route {
                        method: method.to_uppercase(),
                        path,
                        binary: binary.clone(),
                    });
                }
            }
        }
        routes.sort();
        routes
    }

    /// Every `AWS::SQS::Queue`, dead-letter queues first.
    pub fn queues(&self) -> Vec<QueueDef> {
        let mut queues: Vec<QueueDef> = self
            .resources()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::SQS::Queue"))
            .map(|(id, r)| {
                let props = r.get("Properties");
                let num = |name: &str| props.and_then(|p| p.get(name)).and_then(Value::as_i64);
                let redrive = props.and_then(|p| p.get("RedrivePolicy")).and_then(|rp| {
                    // `!GetAtt Dlq.Arn` is a tagged scalar "Dlq.Arn".
                    let target = match rp.get("deadLetterTargetArn")? {
                        Value::Tagged(t) => t.value.as_str()?.split('.').next()?.to_string(),
                        _ => return None,
                    };
                    Some((target, rp.get("maxReceiveCount")?.as_i64()?))
                });
                QueueDef {
                    logical_id: id,
                    visibility_timeout: num("VisibilityTimeout"),
                    retention: num("MessageRetentionPeriod"),
                    redrive,
                }
            })
            .collect();
        queues.sort_by_key(|q| q.redrive.is_some());
        queues
    }

    /// The (single) `AWS::DynamoDB::Table` resource.
    pub fn table(&self) -> Result<TableDef, String> {
        let (_, res) = self
            .resources()
            .find(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
            .ok_or("template has no AWS::DynamoDB::Table")?;
        let props = res.get("Properties").ok_or("table without Properties")?;
        let keys = |v: Option<&Value>| -> Vec<KeyElem> {
            v.and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|k| {
                    Some(KeyElem {
                        name: str_of(k.get("AttributeName")?)?,
                        key_type: str_of(k.get("KeyType")?)?,
                    })
                })
                .collect()
        };
        let attributes = props
            .get("AttributeDefinitions")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|a| {
                Some((
                    str_of(a.get("AttributeName")?)?,
                    str_of(a.get("AttributeType")?)?,
                ))
            })
            .collect();
        let indexes = props
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|g| {
                let projection = g.get("Projection");
                Some(IndexDef {
                    name: str_of(g.get("IndexName")?)?,
                    keys: keys(g.get("KeySchema")),
                    projection_type: projection
                        .and_then(|p| p.get("ProjectionType"))
                        .and_then(str_of)
                        .unwrap_or_else(|| "ALL".into()),
                    non_key_attributes: projection
                        .and_then(|p| p.get("NonKeyAttributes"))
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                        .filter_map(str_of)
                        .collect(),
                })
            })
            .collect();
        let ttl_attribute = props
            .get("TimeToLiveSpecification")
            .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
            .and_then(|t| t.get("AttributeName"))
            .and_then(str_of);
        let stream_view_type = props
            .get("StreamSpecification")
            .and_then(|s| s.get("StreamViewType"))
            .and_then(str_of);
        Ok(TableDef {
            attributes,
            keys: keys(props.get("KeySchema")),
            indexes,
            ttl_attribute,
            stream_view_type,
        })
    }

    /// The cargo binary of a function resource.
    fn binary_of(&self, logical_id: &str) -> Option<String> {
        self.resources()
            .find(|(id, _)| id == logical_id)
            .and_then(|(_, r)| {
                r.get("Metadata")?
                    .get("BuildProperties")?
                    .get("Binary")
                    .and_then(str_of)
            })
    }

    /// Every route of the `WEBSOCKET` API: route key → integration → the
    /// function in its `IntegrationUri` (`${XFunction.Arn}`) → its binary.
    pub fn ws_routes(&self) -> Vec<WsRoute> {
        let tagged = |v: Option<&Value>| -> Option<String> {
            match v? {
                Value::Tagged(t) => str_of(&t.value),
                other => str_of(other),
            }
        };
        let typed = |ty: &'static str| {
            self.resources()
                .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
        };
        let integrations: std::collections::HashMap<String, String> =
            typed("AWS::ApiGatewayV2::Integration")
                .filter_map(|(id, r)| {
                    let uri = tagged(r.get("Properties")?.get("IntegrationUri"))?;
                    let function = uri
                        .split("${")
                        .find_map(|part| part.split_once(".Arn}"))?
                        .0
                        .to_string();
                    Some((id, self.binary_of(&function)?))
                })
                .collect();
        let mut routes: Vec<WsRoute> = typed("AWS::ApiGatewayV2::Route")
            .filter_map(|(_, r)| {
                let props = r.get("Properties")?;
                let target = tagged(props.get("Target"))?;
                let integration = target.strip_prefix("integrations/${")?.strip_suffix('}')?;
                Some(WsRoute {
                    route_key: str_of(props.get("RouteKey")?)?,
                    binary: integrations.get(integration)?.clone(),
                    two_way: props.get("RouteResponseSelectionExpression").is_some(),
                })
            })
            .collect();
        routes.sort();
        routes
    }

    /// The WebSocket API's route selection expression.
    pub fn ws_route_selection(&self) -> Option<String> {
        self.resources()
            .find(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::ApiGatewayV2::Api")
                    && r.get("Properties")
                        .and_then(|p| p.get("ProtocolType"))
                        .and_then(Value::as_str)
                        == Some("WEBSOCKET")
            })
            .and_then(|(_, r)| {
                r.get("Properties")?
                    .get("RouteSelectionExpression")
                    .and_then(str_of)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_reading_the_project_template_it_should_find_routes_and_table() {
        let t = Template::load_default().unwrap();
        let routes = t.routes();
        assert!(routes.contains(&Route {
            method: "POST".into(),
            path: "/conversations".into(),
            binary: "create-conversation".into()
        }));
        let table = t.table().unwrap();
        assert_eq!(table.keys[0].name, "PK");
        assert_eq!(table.indexes[0].name, "GSI1");
        assert_eq!(table.ttl_attribute.as_deref(), Some("expires_at"));
        assert_eq!(
            table.stream_view_type.as_deref(),
            Some("NEW_AND_OLD_IMAGES")
        );
        let ws = t.ws_routes();
        let keys: Vec<(&str, &str, bool)> = ws
            .iter()
            .map(|r| (r.route_key.as_str(), r.binary.as_str(), r.two_way))
            .collect();
        assert_eq!(
            keys,
            [
                ("$connect", "ws-connect", false),
                ("$default", "ws-default", true),
                ("$disconnect", "ws-disconnect", false),
                ("ping", "ws-ping", true),
            ]
        );
        assert_eq!(
            t.ws_route_selection().as_deref(),
            Some("$request.body.action")
        );
        let queues = t.queues();
        let main = queues.iter().find(|q| q.redrive.is_some()).unwrap();
        assert_eq!(main.redrive.as_ref().unwrap().1, 5);
        assert!(main.visibility_timeout.unwrap() >= 6 * 30);
        assert!(
            queues
                .iter()
                .any(|q| q.logical_id == main.redrive.as_ref().unwrap().0)
        );
    }
}
