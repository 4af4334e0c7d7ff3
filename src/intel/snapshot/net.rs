//! The snapshot's network attributes (issue 15): each pulled attribute of a network type kept
//! with its type and value as MISP wrote them, and the [`NetIndex`] built from them (exact
//! values, a prefix index of CIDR networks, URLs) naming each by its place, rebuilt whole with
//! the rest of the index; a hit is built only when a lookup finds it.

use std::collections::HashMap;

use super::index::{EventContext, uuid_text};
use super::table::Meta;
use crate::indicator::misp::NetworkType;
use crate::intel::network::NetIndex;
use crate::intel::{IntelHit, RawHit};

/// A network attribute's type and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NetValue {
    pub(super) kind: NetworkType,
    pub(super) value: Box<str>,
}

/// The index of the network attributes: each value names its attribute by its place in `nets`.
pub(super) fn build(nets: &[(Meta, NetValue)]) -> NetIndex<u32> {
    let mut index = NetIndex::default();
    for (i, (_, net)) in nets.iter().enumerate() {
        index.add(net.kind.as_str(), &net.value, &(i as u32));
    }
    index.finish();
    index
}

/// The hit of one network attribute, with the context the snapshot keeps.
pub(super) fn hit(meta: &Meta, net: &NetValue, events: &HashMap<u32, EventContext>) -> IntelHit {
    let event = events.get(&meta.event).cloned().unwrap_or_default();
    IntelHit::new(RawHit {
        event_id: &meta.event.to_string(),
        event_uuid: &event.uuid,
        event_info: &event.info,
        threat_level_id: None,
        attribute_uuid: &uuid_text(&meta.uuid),
        attribute_type: net.kind.as_str(),
        tags: Vec::new(),
        value: &net.value,
    })
}
