//! Where each value of a YAML document sits: a map from spec paths (`web.instance_types[3]`)
//! to 1-based line numbers, so validation errors can name the line of the field they are about.
//! It also keeps where every node starts (line and column), so a parser error that only has a
//! position can be turned back into the field or mapping it is about, and every repeated key.

use serde_saphyr::granit_parser::{Event, Parser};
use std::collections::BTreeMap;

/// Spec path → line of the value (for mapping entries, the line of the key).
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    lines: BTreeMap<String, usize>,
    /// Every key and value node in document order, with its 1-based line and column.
    nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
struct Node {
    line: usize,
    column: usize,
    /// The path the node names (a key) or is (a value).
    path: String,
    kind: NodeKind,
}

#[derive(Clone, Debug)]
enum NodeKind {
    Value,
    /// A key of the mapping at `mapping`; `first_line` is set when the key repeats an earlier
    /// key of the same mapping.
    Key {
        mapping: String,
        first_line: Option<usize>,
    },
}

enum Frame {
    Mapping {
        path: String,
        key: Option<String>,
        /// Key → line of its first occurrence in this mapping.
        seen: BTreeMap<String, usize>,
    },
    Sequence {
        path: String,
        index: usize,
    },
}

impl SourceMap {
    /// Records every path of `text`. Best effort: a syntax error ends the walk, keeping what
    /// was recorded before it (the parse error itself is reported by the deserializer).
    pub fn from_yaml(text: &str) -> Self {
        let mut lines = BTreeMap::new();
        let mut nodes = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let line = span.start.line();
            // 1-based, as the deserializer's locations.
            let column = span.start.col() + 1;
            let is_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::MappingStart(..)
                    | Event::SequenceStart(..)
                    | Event::Alias(..)
            );
            if is_node {
                // A scalar in key position names the next value; it is not a value itself.
                if let Some(Frame::Mapping { path, key, seen }) = stack.last_mut()
                    && key.is_none()
                {
                    let name = match &event {
                        Event::Scalar(value, ..) => value.to_string(),
                        _ => "?".to_string(),
                    };
                    let child = join_key(path, &name);
                    lines.entry(child.clone()).or_insert(line);
                    let first_line = seen.get(&name).copied();
                    if first_line.is_none() {
                        seen.insert(name.clone(), line);
                    }
                    nodes.push(Node {
                        line,
                        column,
                        path: child,
                        kind: NodeKind::Key {
                            mapping: path.clone(),
                            first_line,
                        },
                    });
                    *key = Some(name);
                    if matches!(event, Event::Scalar(..) | Event::Alias(..)) {
                        continue;
                    }
                }
                let path = match stack.last_mut() {
                    None => String::new(),
                    Some(Frame::Mapping { path, key, .. }) => {
                        let name = key.take().unwrap_or_default();
                        join_key(path, &name)
                    }
                    Some(Frame::Sequence { path, index }) => {
                        let child = format!("{path}[{index}]");
                        *index += 1;
                        child
                    }
                };
                lines.entry(path.clone()).or_insert(line);
                nodes.push(Node {
                    line,
                    column,
                    path: path.clone(),
                    kind: NodeKind::Value,
                });
                match event {
                    Event::MappingStart(..) => stack.push(Frame::Mapping {
                        path,
                        key: None,
                        seen: BTreeMap::new(),
                    }),
                    Event::SequenceStart(..) => stack.push(Frame::Sequence { path, index: 0 }),
                    _ => {}
                }
            } else if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
            }
        }
        Self { lines, nodes }
    }

    /// The line of `path`, or of its nearest ancestor present in the file (a defaulted field
    /// points at the section it would belong to).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut current = path.to_string();
        loop {
            if let Some(line) = self.lines.get(&current) {
                return Some(*line);
            }
            if current.is_empty() {
                return None;
            }
            current = parent(&current).to_string();
        }
    }

    /// The deepest path that starts on `line` (used to name the field of a parse error).
    pub fn path_at_line(&self, line: usize) -> Option<&str> {
        self.lines
            .iter()
            .filter(|(_, l)| **l == line)
            .map(|(p, _)| p.as_str())
            .max_by_key(|p| p.len())
    }

    /// The mapping a parser position is about: the mapping that holds the key at
    /// `line`:`column`, or else the mapping (or value meant to be one) that starts there. The
    /// deserializer reports a missing field at the last key it read of the mapping lacking it,
    /// or at the mapping itself when it has no keys. `None` when nothing starts there.
    pub fn mapping_at(&self, line: usize, column: usize) -> Option<&str> {
        let at = |n: &&Node| n.line == line && n.column == column;
        self.nodes
            .iter()
            .filter(at)
            .find_map(|n| match &n.kind {
                NodeKind::Key { mapping, .. } => Some(mapping.as_str()),
                NodeKind::Value => None,
            })
            .or_else(|| {
                self.nodes
                    .iter()
                    .find(|n| at(n) && matches!(n.kind, NodeKind::Value))
                    .map(|n| n.path.as_str())
            })
    }

    /// A key that repeats an earlier key of its mapping, at `line`:`column` (or, failing an
    /// exact position, the first such key on `line`): its path and the line of the first one.
    pub fn duplicate_at(&self, line: usize, column: usize) -> Option<(&str, usize)> {
        let duplicates = || {
            self.nodes.iter().filter_map(|n| match n.kind {
                NodeKind::Key {
                    first_line: Some(first),
                    ..
                } if n.line == line => Some((n, first)),
                _ => None,
            })
        };
        duplicates()
            .find(|(n, _)| n.column == column)
            .or_else(|| duplicates().next())
            .map(|(n, first)| (n.path.as_str(), first))
    }
}

/// `parent.key`, or `key` at the top level.
pub(super) fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: a\nweb:\n  instance_types:\n    - t3.large\n    - m7i.large\n  min: 2\nlist: [1, 2]\n";

    #[test]
    fn maps_keys_items_and_flow_sequences_to_lines() {
        let map = SourceMap::from_yaml(DOC);
        assert_eq!(map.line_of("name"), Some(1));
        assert_eq!(map.line_of("web"), Some(2));
        assert_eq!(map.line_of("web.instance_types"), Some(3));
        assert_eq!(map.line_of("web.instance_types[0]"), Some(4));
        assert_eq!(map.line_of("web.instance_types[1]"), Some(5));
        assert_eq!(map.line_of("web.min"), Some(6));
        assert_eq!(map.line_of("list[1]"), Some(7));
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        let map = SourceMap::from_yaml(DOC);
        assert_eq!(map.line_of("web.max"), Some(2));
        assert_eq!(map.line_of("web.instance_types[7]"), Some(3));
        assert_eq!(map.line_of("database.engine"), Some(1));
    }

    #[test]
    fn finds_the_deepest_path_on_a_line() {
        let map = SourceMap::from_yaml(DOC);
        assert_eq!(map.path_at_line(4), Some("web.instance_types[0]"));
        assert_eq!(map.path_at_line(6), Some("web.min"));
    }
}
