//! A fixed-capacity ring buffer, the one container of this crate's hot path.
//!
//! Receivers and mergers keep a short memory (recent presses) and an output queue. Both have a
//! bound that follows from the protocol, so they live in arrays sized at compile time: nothing
//! allocates per packet and a flood of packets cannot grow memory.

/// Up to `N` values, oldest first. Pushing into a full ring evicts the oldest value.
#[derive(Clone, Debug)]
pub(crate) struct Ring<T, const N: usize> {
    slots: [Option<T>; N],
    /// Index of the oldest value.
    head: usize,
    len: usize,
}

impl<T: Copy, const N: usize> Ring<T, N> {
    /// An empty ring.
    pub(crate) const fn new() -> Self {
        Ring { slots: [None; N], head: 0, len: 0 }
    }

    /// Where the ring's count is, as (start, length): what an empty ring's every poll reads
    /// (see `MediaSession::hot_spans`).
    pub(crate) fn count_span(&self) -> (*const u8, usize) {
        ((&self.len as *const usize).cast(), size_of::<usize>())
    }

    /// Number of values held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `value` as the newest; returns the value evicted to make room, if any.
    pub(crate) fn push_back(&mut self, value: T) -> Option<T> {
        if N == 0 {
            return Some(value);
        }
        if self.len < N {
            self.slots[(self.head + self.len) % N] = Some(value);
            self.len += 1;
            None
        } else {
            let evicted = self.slots[self.head].replace(value);
            self.head = (self.head + 1) % N;
            evicted
        }
    }

    /// Removes and returns the oldest value.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = self.slots[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        value
    }

    /// The `i`-th value, oldest first.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.slots[(self.head + i) % N].as_ref()
    }

    /// Moves the `i`-th value to the newest position, keeping the order of the others.
    pub(crate) fn move_to_back(&mut self, i: usize) {
        if i >= self.len {
            return;
        }
        for k in i..self.len - 1 {
            let (a, b) = ((self.head + k) % N, (self.head + k + 1) % N);
            self.slots.swap(a, b);
        }
    }

    /// The `i`-th value, oldest first, mutably.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        self.slots[(self.head + i) % N].as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn keeps_order_and_evicts_the_oldest() {
        let mut r: Ring<u32, 3> = Ring::new();
        assert_eq!(r.push_back(1), None);
        assert_eq!(r.push_back(2), None);
        assert_eq!(r.push_back(3), None);
        assert_eq!(r.push_back(4), Some(1));
        assert_eq!(r.len(), 3);
        assert_eq!(r.get(0), Some(&2));
        assert_eq!(r.get(2), Some(&4));
        assert_eq!(r.get(3), None);
        if let Some(v) = r.get_mut(1) {
            *v = 30;
        }
        r.move_to_back(0);
        assert_eq!(r.pop_front(), Some(30));
        assert_eq!(r.pop_front(), Some(4));
        assert_eq!(r.pop_front(), Some(2));
        assert_eq!(r.pop_front(), None);
    }
}
