package erase

import (
	"cmp"
	"slices"
)

const (
	// edge is how much of each end of the device, and of each partition,
	// the metadata erase zeroes. It holds every signature wipefs knows
	// except the few in deepSpots: partition tables, md superblocks (0.90
	// and 1.0 sit in the last 128 KiB, 1.1 and 1.2 at 0 and 4 KiB), LVM
	// labels, LUKS headers, ZFS labels and the superblocks of ext*, XFS,
	// btrfs, FAT, swap (at the page size), ISO 9660 and UDF's volume
	// recognition sequence.
	edge = 1 << 20
	spot = 4096
)

// deepSpots are signature places beyond the first MiB, as offsets from
// the start: VMFS volume (1 MiB) and filesystem (2 MiB) magic, UDF's
// anchor at sector 256 of a 4Kn disk (1 MiB), and the LUKS2 secondary
// header for 2 and 4 MiB primary headers.
var deepSpots = []int64{1 << 20, 2 << 20, 4 << 20}

// tailSpot is UDF's anchor at sector N-256 of a 4Kn disk: just before the
// last MiB.
const tailSpot = edge + spot

// wipePlan returns the sorted, merged, sector-aligned ranges Metadata
// zeroes: the edges and deep spots of the device and of each partition,
// and the table structures readLayout found elsewhere.
func wipePlan(size int64, lss int, l *layout) []span {
	var spans []span
	ranges := []partition{{start: 0, size: size}}
	ranges = append(ranges, l.parts...)
	for _, p := range ranges {
		end := p.start + p.size
		spans = append(spans, span{p.start, min(edge, p.size)}, span{max(p.start, end-edge), end - max(p.start, end-edge)})
		for _, d := range deepSpots {
			if d+spot <= p.size {
				spans = append(spans, span{p.start + d, spot})
			}
		}
		if p.size >= tailSpot {
			spans = append(spans, span{end - tailSpot, spot})
		}
	}
	spans = append(spans, l.tables...)
	return mergeSpans(spans, size, int64(lss))
}

// mergeSpans clips spans to [0, size), widens them to whole sectors, and
// merges overlapping or touching ones.
func mergeSpans(spans []span, size, unit int64) []span {
	var out []span
	for _, s := range spans {
		lo, hi := max(s.off, 0), min(s.off+s.n, size)
		if lo >= hi {
			continue
		}
		lo, hi = lo/unit*unit, min((hi+unit-1)/unit*unit, size)
		out = append(out, span{lo, hi - lo})
	}
	slices.SortFunc(out, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && s.off <= merged[n-1].off+merged[n-1].n {
			last := &merged[n-1]
			last.n = max(last.n, s.off+s.n-last.off)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}
