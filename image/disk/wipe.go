package disk

// EdgeSize is how much of each end of the device WipeEdges zeroes: the MBR,
// both GPT headers and their partition arrays.
const EdgeSize = 1 << 20

// WipeEdges zeroes the first and last EdgeSize bytes of the device and
// nothing in between, so no partition table is left to boot from or to
// mistake for the new one; on a multi-terabyte disk that costs two writes.
func (d *Disk) WipeEdges() error {
	n := min(EdgeSize, d.dev.Size/int64(d.dev.LSS)*int64(d.dev.LSS))
	zero := make([]byte, n)
	if err := d.writeAt(zero, 0); err != nil {
		return err
	}
	if end := d.dev.Size - n; end > 0 {
		if err := d.writeAt(zero, end); err != nil {
			return err
		}
	}
	return d.dev.Flush()
}
