//! Which blocks to ask a peer for (BEP 3's piece selection, as the textbook tells it): strict
//! priority to the pieces already started, a random first few pieces to start quickly, then
//! rarest first by the availability counted from the peers' bitfields and haves, and end
//! game once every missing block has been asked for (the last blocks are asked of several
//! peers; the duplicates are cancelled when one arrives). Pieces are checked by the driver
//! (SHA-1) before [`Picker::piece_verified`]; a failed one is picked again.

use crate::wire::{Bitfield, BLOCK};
use std::collections::BTreeMap;

/// Pieces picked at random before rarest first takes over.
pub const RANDOM_FIRST: usize = 4;

/// One block to request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    /// Piece.
    pub index: u32,
    /// Offset in the piece.
    pub begin: u32,
    /// Bytes.
    pub length: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Missing,
    /// Asked of this many peers.
    Requested(u8),
    Received,
}

#[derive(Clone, Debug)]
struct Partial {
    blocks: Vec<State>,
}

/// What a received block did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Not asked for, already had, or out of range: drop it.
    Unwanted,
    /// Stored; the piece is not complete yet.
    Stored,
    /// The piece's last block: check its hash, then [`Picker::piece_verified`] or
    /// [`Picker::piece_failed`].
    PieceComplete(u32),
}

/// The piece picker of one torrent.
#[derive(Clone, Debug)]
pub struct Picker {
    piece_length: u64,
    total: u64,
    have: Bitfield,
    availability: Vec<u32>,
    partial: BTreeMap<u32, Partial>,
    /// Pieces whose blocks are all in, waiting for the hash check.
    checking: Vec<u32>,
    random: u64,
}

impl Picker {
    /// A picker for pieces of `piece_length` over `total` bytes, with `have` already had;
    /// `seed` drives the random choices.
    pub fn new(piece_length: u64, total: u64, have: Bitfield, seed: u64) -> Picker {
        let count = have.len();
        Picker {
            piece_length,
            total,
            have,
            availability: vec![0; count],
            partial: BTreeMap::new(),
            checking: Vec::new(),
            random: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }

    /// The pieces had (verified).
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Whether every piece is had.
    pub fn is_complete(&self) -> bool {
        self.have.is_full()
    }

    /// How many peers have piece `index`.
    pub fn availability(&self, index: usize) -> u32 {
        self.availability.get(index).copied().unwrap_or(0)
    }

    fn piece_size(&self, index: u32) -> u64 {
        let start = self.piece_length * u64::from(index);
        self.piece_length.min(self.total.saturating_sub(start))
    }

    fn blocks_in(&self, index: u32) -> usize {
        self.piece_size(index).div_ceil(u64::from(BLOCK)) as usize
    }

    fn block(&self, index: u32, block: usize) -> Block {
        let begin = block as u64 * u64::from(BLOCK);
        Block {
            index,
            begin: begin as u32,
            length: (self.piece_size(index) - begin).min(u64::from(BLOCK)) as u32,
        }
    }

    /// A peer's bitfield (or have-all) arrived.
    pub fn add_peer(&mut self, pieces: &Bitfield) {
        for index in 0..self.availability.len() {
            if pieces.has(index) {
                self.availability[index] += 1;
            }
        }
    }

    /// A peer with `pieces` left.
    pub fn remove_peer(&mut self, pieces: &Bitfield) {
        for index in 0..self.availability.len() {
            if pieces.has(index) {
                self.availability[index] = self.availability[index].saturating_sub(1);
            }
        }
    }

    /// A peer announced piece `index` (`have`).
    pub fn peer_has(&mut self, index: u32) {
        if let Some(count) = self.availability.get_mut(index as usize) {
            *count += 1;
        }
    }

    /// Whether every missing block has been asked for (end game).
    pub fn in_end_game(&self) -> bool {
        let unstarted = (0..self.have.len() as u32).any(|index| {
            !self.have.has(index as usize)
                && !self.partial.contains_key(&index)
                && !self.checking.contains(&index)
        });
        !unstarted
            && self
                .partial
                .values()
                .all(|piece| !piece.blocks.contains(&State::Missing))
            && !self.is_complete()
    }

    /// Up to `max` blocks to ask of a peer that has `peer_pieces`, besides the ones it was
    /// already asked for (`outstanding`).
    pub fn pick(
        &mut self,
        peer_pieces: &Bitfield,
        max: usize,
        outstanding: &[Block],
    ) -> Vec<Block> {
        let mut picked = Vec::new();
        // Strict priority: blocks of pieces already started, unless this peer has rarer
        // pieces to give. A seed's upload is the swarm's scarcest: the rest of a piece that
        // another peer also has is better fetched there, while the seed sends what only it has.
        let rarest_new = (self.have.count() >= RANDOM_FIRST)
            .then(|| {
                (0..self.have.len())
                    .filter(|&i| {
                        peer_pieces.has(i)
                            && !self.have.has(i)
                            && !self.partial.contains_key(&(i as u32))
                            && !self.checking.contains(&(i as u32))
                    })
                    .map(|i| self.availability[i])
                    .min()
            })
            .flatten();
        let mut started: Vec<u32> = self
            .partial
            .keys()
            .copied()
            .filter(|index| peer_pieces.has(*index as usize))
            .filter(|index| {
                rarest_new.is_none_or(|rarest| self.availability[*index as usize] <= rarest)
            })
            .collect();
        started.sort_by_key(|index| self.availability[*index as usize]);
        for index in started {
            if picked.len() >= max {
                return picked;
            }
            self.take_missing(index, max, &mut picked);
        }
        // A new piece: random among the first few, then the rarest (ties broken at random).
        while picked.len() < max {
            let candidates: Vec<u32> = (0..self.have.len() as u32)
                .filter(|index| {
                    let i = *index as usize;
                    peer_pieces.has(i)
                        && !self.have.has(i)
                        && !self.partial.contains_key(index)
                        && !self.checking.contains(index)
                })
                .collect();
            if candidates.is_empty() {
                break;
            }
            let choice = if self.have.count() < RANDOM_FIRST {
                candidates[(self.next_random() % candidates.len() as u64) as usize]
            } else {
                let rarest = candidates
                    .iter()
                    .map(|index| self.availability[*index as usize])
                    .min()
                    .unwrap_or(0);
                let rare: Vec<u32> = candidates
                    .into_iter()
                    .filter(|index| self.availability[*index as usize] == rarest)
                    .collect();
                rare[(self.next_random() % rare.len() as u64) as usize]
            };
            let blocks = self.blocks_in(choice);
            self.partial.insert(
                choice,
                Partial {
                    blocks: vec![State::Missing; blocks],
                },
            );
            self.take_missing(choice, max, &mut picked);
        }
        // End game: ask for blocks already asked of others (not of this peer).
        if picked.is_empty() && self.in_end_game() {
            let pending: Vec<Block> = self
                .partial
                .iter()
                .filter(|(index, _)| peer_pieces.has(**index as usize))
                .flat_map(|(index, piece)| {
                    piece
                        .blocks
                        .iter()
                        .enumerate()
                        .filter(|(_, state)| matches!(state, State::Requested(_)))
                        .map(move |(block, _)| (*index, block))
                })
                .map(|(index, block)| self.block(index, block))
                .filter(|block| !outstanding.contains(block))
                .take(max)
                .collect();
            for block in pending {
                if let Some(State::Requested(count)) = self.state_mut(&block) {
                    *count = count.saturating_add(1);
                }
                picked.push(block);
            }
        }
        picked
    }

    fn take_missing(&mut self, index: u32, max: usize, picked: &mut Vec<Block>) {
        let Some(piece) = self.partial.get(&index) else {
            return;
        };
        let missing: Vec<usize> = piece
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, state)| **state == State::Missing)
            .map(|(block, _)| block)
            .collect();
        for block in missing {
            if picked.len() >= max {
                return;
            }
            let request = self.block(index, block);
            if let Some(piece) = self.partial.get_mut(&index) {
                piece.blocks[block] = State::Requested(1);
            }
            picked.push(request);
        }
    }

    fn state_mut(&mut self, block: &Block) -> Option<&mut State> {
        let position = (block.begin / BLOCK) as usize;
        if !block.begin.is_multiple_of(BLOCK) {
            return None;
        }
        self.partial.get_mut(&block.index)?.blocks.get_mut(position)
    }

    /// A request was not answered (choked, rejected, the peer left): the block may be asked
    /// of someone else.
    pub fn request_dropped(&mut self, block: &Block) {
        if let Some(state) = self.state_mut(block) {
            *state = match *state {
                State::Requested(count) if count > 1 => State::Requested(count - 1),
                State::Requested(_) => State::Missing,
                other => other,
            };
        }
        // A piece with nothing asked for or received is not started any more (no strict
        // priority for it).
        let untouched = self
            .partial
            .get(&block.index)
            .is_some_and(|piece| piece.blocks.iter().all(|state| *state == State::Missing));
        if untouched {
            self.partial.remove(&block.index);
        }
    }

    /// A block arrived (`length` bytes at `begin` of piece `index`).
    pub fn block_received(&mut self, index: u32, begin: u32, length: usize) -> Received {
        let expected = Block {
            index,
            begin,
            length: length as u32,
        };
        let Some(valid) = self
            .partial
            .get(&index)
            .map(|_| self.block(index, (begin / BLOCK) as usize))
        else {
            return Received::Unwanted;
        };
        if valid != expected {
            return Received::Unwanted;
        }
        match self.state_mut(&expected) {
            Some(state @ (State::Requested(_) | State::Missing)) => *state = State::Received,
            _ => return Received::Unwanted,
        }
        let done = self
            .partial
            .get(&index)
            .is_some_and(|piece| piece.blocks.iter().all(|state| *state == State::Received));
        if done {
            self.partial.remove(&index);
            self.checking.push(index);
            Received::PieceComplete(index)
        } else {
            Received::Stored
        }
    }

    /// Piece `index` passed its hash check.
    pub fn piece_verified(&mut self, index: u32) {
        self.checking.retain(|piece| *piece != index);
        self.have.set(index as usize);
    }

    /// Piece `index` failed its hash check: it is picked again from scratch.
    pub fn piece_failed(&mut self, index: u32) {
        self.checking.retain(|piece| *piece != index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIECE: u64 = 4 * BLOCK as u64;

    fn picker(pieces: usize) -> Picker {
        Picker::new(
            PIECE,
            PIECE * pieces as u64 - 100,
            Bitfield::new(pieces),
            42,
        )
    }

    fn receive_piece(picker: &mut Picker, blocks: &[Block]) -> Vec<Received> {
        blocks
            .iter()
            .map(|block| picker.block_received(block.index, block.begin, block.length as usize))
            .collect()
    }

    /// A piece started from a peer is not finished from the seed while the seed has pieces
    /// nobody else has; the peer's connection finishes it.
    #[test]
    fn the_seed_is_asked_for_what_only_it_has() {
        let mut picker = picker(10);
        // We have the first four (past random first); the seed has all, peer A pieces 4 and 5.
        for _ in 0..RANDOM_FIRST {
            let blocks = picker.pick(&Bitfield::full(10), 4, &[]);
            assert!(blocks.iter().all(|block| block.index == blocks[0].index));
            let _ = receive_piece(&mut picker, &blocks);
            picker.piece_verified(blocks[0].index);
        }
        let seed = Bitfield::full(10);
        picker.add_peer(&seed);
        let mut from_a = Bitfield::new(10);
        for index in 0..10 {
            if !picker.have().has(index) && from_a.count() < 2 {
                from_a.set(index);
            }
        }
        picker.add_peer(&from_a);
        // Two blocks of one of A's pieces are asked of A.
        let first = picker.pick(&from_a, 2, &[]);
        let started = first[0].index;
        assert!(from_a.has(started as usize));
        // The seed is asked for pieces A lacks, not the rest of the started one.
        let from_seed = picker.pick(&seed, 4, &[]);
        assert_eq!(from_seed.len(), 4);
        assert!(
            from_seed
                .iter()
                .all(|block| !from_a.has(block.index as usize)),
            "{from_seed:?}"
        );
        // A's connection finishes the started piece first.
        let next = picker.pick(&from_a, 2, &first);
        assert!(next.iter().all(|block| block.index == started), "{next:?}");
    }

    #[test]
    fn strict_priority_then_rarest_first() {
        let mut picker = picker(10);
        let everyone = Bitfield::full(10);
        // Piece 7 is on one peer only, the others on three.
        for _ in 0..3 {
            let mut field = Bitfield::full(10);
            if picker.availability(7) == 0 {
                picker.add_peer(&field);
            } else {
                field = Bitfield::new(10);
                (0..10).filter(|i| *i != 7).for_each(|i| field.set(i));
                picker.add_peer(&field);
            }
        }
        // Random first: four pieces at random, each finished before the next is started.
        for round in 0..RANDOM_FIRST {
            let blocks = picker.pick(&everyone, 2, &[]);
            assert_eq!(blocks.len(), 2);
            assert_eq!(blocks[0].index, blocks[1].index, "one piece at a time");
            // Strict priority: the same piece's other blocks come next.
            let rest = picker.pick(&everyone, 10, &[]);
            assert!(rest[..2].iter().all(|block| block.index == blocks[0].index));
            let index = blocks[0].index;
            // Give back what the next piece got, so only this one is in progress.
            for block in rest.iter().filter(|block| block.index != index) {
                picker.request_dropped(block);
            }
            let all: Vec<Block> = blocks
                .iter()
                .chain(&rest)
                .filter(|b| b.index == index)
                .copied()
                .collect();
            let outcome = receive_piece(&mut picker, &all);
            assert_eq!(
                outcome.last(),
                Some(&Received::PieceComplete(index)),
                "round {round}"
            );
            picker.piece_verified(index);
        }
        // Then the rarest: piece 7.
        assert!(
            !picker.have().has(7),
            "this seed leaves piece 7 to rarest first"
        );
        let next = picker.pick(&everyone, 1, &[]);
        assert_eq!(next[0].index, 7);
    }

    #[test]
    fn last_piece_is_short_and_bad_pieces_return() {
        let mut picker = Picker::new(PIECE, PIECE + 5, Bitfield::new(2), 1);
        let only_last = {
            let mut field = Bitfield::new(2);
            field.set(1);
            field
        };
        let blocks = picker.pick(&only_last, 10, &[]);
        assert_eq!(
            blocks,
            vec![Block {
                index: 1,
                begin: 0,
                length: 5
            }]
        );
        assert_eq!(
            picker.block_received(1, 0, 4),
            Received::Unwanted,
            "wrong length"
        );
        assert_eq!(picker.block_received(1, 0, 5), Received::PieceComplete(1));
        picker.piece_failed(1);
        assert_eq!(picker.pick(&only_last, 10, &[]), blocks, "picked again");
        assert_eq!(
            picker.block_received(0, 0, BLOCK as usize),
            Received::Unwanted,
            "not asked"
        );
    }

    #[test]
    fn end_game_asks_again_and_dropped_requests_return() {
        let mut picker = Picker::new(PIECE, 2 * u64::from(BLOCK), Bitfield::new(1), 3);
        let all = Bitfield::full(1);
        let first = picker.pick(&all, 10, &[]);
        assert_eq!(first.len(), 2);
        assert!(picker.in_end_game());
        // Another peer gets the same blocks in end game; the first peer gets nothing new.
        assert_eq!(picker.pick(&all, 10, &first), Vec::new());
        let second = picker.pick(&all, 10, &[]);
        assert_eq!(second, first);
        // One copy of block 0 arrives; the other is a duplicate.
        assert_eq!(
            picker.block_received(0, 0, BLOCK as usize),
            Received::Stored
        );
        assert_eq!(
            picker.block_received(0, 0, BLOCK as usize),
            Received::Unwanted
        );
        // Both requests of block 1 dropped: it is missing again.
        picker.request_dropped(&first[1]);
        picker.request_dropped(&first[1]);
        assert!(!picker.in_end_game());
        assert_eq!(picker.pick(&all, 10, &[]), vec![first[1]]);
    }
}
