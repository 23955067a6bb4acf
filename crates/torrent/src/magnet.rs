//! From a magnet link to a torrent (BEP 9): peers from the link's trackers (and its `x.pe`
//! peers), then, one peer after another, the BEP 3 handshake, the BEP 10 extension handshake
//! and `ut_metadata` requests for every piece of the `info` dictionary, which is used only if
//! its SHA-1 is the link's info-hash.

use crate::announce::{announce, AnnounceParams};
use bt_proto::magnet::Magnet;
use bt_proto::metadata::{self, MetadataAssembler, MetadataMessage};
use bt_proto::tracker::Event;
use bt_proto::wire::{Handshake, Message, HANDSHAKE_LEN};
use bt_proto::Metainfo;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one peer may take to hand over the metadata.
const PER_PEER: Duration = Duration::from_secs(20);

/// The torrent of `magnet`, its metadata fetched from peers; `port` is announced to the
/// trackers (the client's listening port).
pub async fn fetch_metadata(magnet: &Magnet, port: u16) -> io::Result<Metainfo> {
    let trackers: Vec<Vec<String>> = magnet
        .trackers
        .iter()
        .map(|url| vec![url.clone()])
        .collect();
    let mut peers: Vec<SocketAddr> = magnet
        .peers
        .iter()
        .filter_map(|peer| peer.parse().ok())
        .collect();
    let peer_id = *b"-AL0000-magnetfetch0";
    if !trackers.is_empty() {
        let params = AnnounceParams {
            info_hash: magnet.info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left: 1,
            event: Event::None,
            source: None,
        };
        if let Ok(answer) = announce(&trackers, &params).await {
            peers.extend(answer.peers);
        }
    }
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no peers to ask for the metadata");
    for peer in peers {
        match tokio::time::timeout(PER_PEER, from_peer(magnet, peer, peer_id)).await {
            Ok(Ok(info)) => {
                return Metainfo::from_info_bytes(&info, trackers)
                    .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))
            }
            Ok(Err(error)) => last = io::Error::new(error.kind(), format!("{peer}: {error}")),
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, format!("{peer}: too slow")),
        }
    }
    Err(last)
}

fn protocol(text: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text.to_string())
}

#[allow(clippy::while_immutable_condition)] // the loop ends by `break` or `return`
async fn from_peer(magnet: &Magnet, peer: SocketAddr, peer_id: [u8; 20]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(peer).await?;
    stream
        .write_all(&Handshake::new(magnet.info_hash, peer_id).encode())
        .await?;
    let mut ours = Vec::new();
    Message::Extended {
        id: 0,
        payload: metadata::encode_handshake(None),
    }
    .encode_into(&mut ours);
    stream.write_all(&ours).await?;
    let mut input = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    let mut handshaken = false;
    let mut assembler: Option<MetadataAssembler> = None;
    loop {
        if !handshaken {
            if let Some(theirs) = Handshake::decode(&input).map_err(|e| protocol(&e.to_string()))? {
                if theirs.info_hash != magnet.info_hash || !theirs.extensions() {
                    return Err(protocol("the peer does not speak the extension protocol"));
                }
                input.drain(..HANDSHAKE_LEN);
                handshaken = true;
            }
        }
        while handshaken {
            let decoded = Message::decode(&input).map_err(|e| protocol(&e.to_string()))?;
            let Some((message, used)) = decoded else {
                break;
            };
            input.drain(..used);
            let Message::Extended { id, payload } = message else {
                continue;
            };
            if id == 0 {
                let theirs = metadata::decode_handshake(&payload)
                    .ok_or_else(|| protocol("bad extension handshake"))?;
                let (Some(their_id), Some(size)) = (theirs.ut_metadata, theirs.metadata_size)
                else {
                    return Err(protocol("the peer offers no metadata"));
                };
                let collect = MetadataAssembler::new(size)
                    .ok_or_else(|| protocol("metadata size out of bounds"))?;
                let mut requests = Vec::new();
                for piece in 0..collect.piece_count() {
                    Message::Extended {
                        id: their_id,
                        payload: MetadataMessage::Request(piece).encode(),
                    }
                    .encode_into(&mut requests);
                }
                stream.write_all(&requests).await?;
                assembler = Some(collect);
            } else if id == metadata::UT_METADATA {
                let Some(collect) = assembler.as_mut() else {
                    continue;
                };
                match MetadataMessage::decode(&payload) {
                    Some(MetadataMessage::Data {
                        piece,
                        total_size,
                        data,
                    }) => {
                        if !collect.add(piece, total_size, &data) {
                            return Err(protocol("a metadata piece of the wrong size"));
                        }
                        if collect.is_complete() {
                            return collect.finish(&magnet.info_hash).ok_or_else(|| {
                                protocol("the metadata does not match the info-hash")
                            });
                        }
                    }
                    Some(MetadataMessage::Reject(_)) => {
                        return Err(protocol("the peer refused the metadata"))
                    }
                    _ => {}
                }
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(protocol("the peer closed the connection"));
        }
        input.extend_from_slice(&chunk[..n]);
        if input.len() > metadata::MAX_METADATA + 1024 * 1024 {
            return Err(protocol("too much data"));
        }
    }
}
