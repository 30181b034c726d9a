package hardware

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestParseLLDP(t *testing.T) {
	// Chassis ID (MAC), Port ID (ifname "Ethernet1"), TTL 120, End.
	pdu, _ := hex.DecodeString("020704525400123456" + "040a0545746865726e657431" + "06020078" + "0000")
	tlvs, err := ParseLLDP(pdu)
	if err != nil {
		t.Fatal(err)
	}
	want := []TLV{{1, "04525400123456"}, {2, "0545746865726e657431"}, {3, "0078"}}
	if len(tlvs) != len(want) {
		t.Fatalf("tlvs = %v", tlvs)
	}
	for i := range want {
		if tlvs[i] != want[i] {
			t.Errorf("tlv %d = %v, want %v", i, tlvs[i], want[i])
		}
	}
	if _, err := ParseLLDP([]byte{0x02, 0x07, 0x04}); err == nil {
		t.Error("a TLV running past the frame was accepted")
	}
}

func TestPCIDevices(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "bus/pci/devices/0000:00:03.0")
	os.MkdirAll(dev, 0o755)
	for f, v := range map[string]string{"vendor": "0x1af4", "device": "0x1041", "class": "0x020000", "revision": "0x01", "numa_node": "-1",
		"modalias": "pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00"} {
		os.WriteFile(filepath.Join(dev, f), []byte(v+"\n"), 0o644)
	}
	got, err := PCIDevices(Root{Sys: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (PCIDevice{VendorID: "1af4", ProductID: "1041", Class: "020000", Revision: "01", Bus: "0000:00:03.0"}) {
		t.Errorf("PCIDevices = %+v", got)
	}
}
