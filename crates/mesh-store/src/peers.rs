//! Peers the node has seen, most recent first.

use redb::{ReadableTable, ReadableTableMetadata};

use crate::encoding::{self, PeerValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{PEERS, PEERS_BY_SEEN};
use crate::store::{Store, damaged};
use crate::types::StoredPeer;

impl Store {
    /// Stores `peer`, replacing what was stored for its peer id.
    pub fn upsert_peer(&self, peer: &StoredPeer) -> Result<(), StoreError> {
        self.write(|txn, path| {
            let mut peers = txn.open_table(PEERS).at(path)?;
            let mut by_seen = txn.open_table(PEERS_BY_SEEN).at(path)?;
            let id = peer.peer_id.as_slice();
            let old_seen = match peers.get(id).at(path)? {
                Some(old) => Some(
                    encoding::decode::<PeerValue>(old.value())
                        .map_err(|reason| damaged(path, "peer", id, reason))?
                        .last_seen_unix_ms,
                ),
                None => None,
            };
            if let Some(old_seen) = old_seen {
                by_seen.remove((old_seen, id)).at(path)?;
            }
            peers
                .insert(id, encoding::encode(&PeerValue::from_peer(peer)).as_slice())
                .at(path)?;
            by_seen.insert((peer.last_seen_unix_ms, id), ()).at(path)?;
            Ok(())
        })
    }

    /// Forgets a peer; `false` if it was not stored.
    pub fn remove_peer(&self, peer_id: &[u8]) -> Result<bool, StoreError> {
        self.write(|txn, path| {
            let mut peers = txn.open_table(PEERS).at(path)?;
            let old_seen = match peers.remove(peer_id).at(path)? {
                Some(old) => {
                    encoding::decode::<PeerValue>(old.value())
                        .map_err(|reason| damaged(path, "peer", peer_id, reason))?
                        .last_seen_unix_ms
                }
                None => return Ok(false),
            };
            txn.open_table(PEERS_BY_SEEN)
                .at(path)?
                .remove((old_seen, peer_id))
                .at(path)?;
            Ok(true)
        })
    }

    /// One peer, if stored.
    pub fn peer(&self, peer_id: &[u8]) -> Result<Option<StoredPeer>, StoreError> {
        self.read(|txn, path| {
            let peers = txn.open_table(PEERS).at(path)?;
            let Some(value) = peers.get(peer_id).at(path)? else {
                return Ok(None);
            };
            let value = encoding::decode::<PeerValue>(value.value())
                .map_err(|reason| damaged(path, "peer", peer_id, reason))?;
            Ok(Some(value.into_peer(peer_id.to_vec())))
        })
    }

    /// At most `limit` peers, most recently seen first.
    pub fn peers(&self, limit: usize) -> Result<Vec<StoredPeer>, StoreError> {
        self.read(|txn, path| {
            let peers = txn.open_table(PEERS).at(path)?;
            let by_seen = txn.open_table(PEERS_BY_SEEN).at(path)?;
            let mut out = Vec::with_capacity(limit.min(by_seen.len().at(path)? as usize));
            for entry in by_seen.iter().at(path)?.rev().take(limit) {
                let (key, _) = entry.at(path)?;
                let (_, id) = key.value();
                let value = peers.get(id).at(path)?.ok_or_else(|| {
                    StoreError::corrupt(
                        path,
                        format!("peer index names {}, which is absent", hex::encode(id)),
                    )
                })?;
                let value = encoding::decode::<PeerValue>(value.value())
                    .map_err(|reason| damaged(path, "peer", id, reason))?;
                out.push(value.into_peer(id.to_vec()));
            }
            Ok(out)
        })
    }

    /// How many peers are stored.
    pub fn peer_count(&self) -> Result<u64, StoreError> {
        self.read(|txn, path| txn.open_table(PEERS).at(path)?.len().at(path))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::open_temp;
    use crate::types::StoredPeer;

    fn peer(id: u8, seen: u64) -> StoredPeer {
        StoredPeer {
            peer_id: vec![id; 38],
            addresses: vec![format!("/ip4/10.0.0.{id}/tcp/7701")],
            last_seen_unix_ms: seen,
        }
    }

    #[test]
    fn peers_come_back_most_recent_first_and_bounded() {
        let (_dir, store) = open_temp();
        store.upsert_peer(&peer(1, 100)).unwrap();
        store.upsert_peer(&peer(2, 300)).unwrap();
        store.upsert_peer(&peer(3, 200)).unwrap();
        let ids: Vec<u8> = store
            .peers(10)
            .unwrap()
            .iter()
            .map(|p| p.peer_id[0])
            .collect();
        assert_eq!(ids, [2, 3, 1]);
        assert_eq!(store.peers(2).unwrap().len(), 2);

        // Seen again: moves to the front, with its new addresses, and is not duplicated.
        let mut again = peer(1, 400);
        again
            .addresses
            .push("/ip4/10.0.0.1/udp/7701/quic-v1".into());
        store.upsert_peer(&again).unwrap();
        let peers = store.peers(10).unwrap();
        assert_eq!(peers.len(), 3);
        assert_eq!(peers[0], again);
        assert_eq!(store.peer(&again.peer_id).unwrap(), Some(again.clone()));

        assert!(store.remove_peer(&again.peer_id).unwrap());
        assert!(!store.remove_peer(&again.peer_id).unwrap());
        assert_eq!(store.peer_count().unwrap(), 2);
        assert!(store.check().unwrap().is_clean());
    }
}
