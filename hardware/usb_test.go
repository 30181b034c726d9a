package hardware

import (
	"encoding/json"
	"testing"
)

func TestUSBDevices(t *testing.T) {
	tr := newTree(t)
	dev := func(name, bus, num, class string, ifClasses map[string]string, attrs map[string]string) {
		files := map[string]string{"busnum": bus + "\n", "devnum": num + "\n", "bDeviceClass": class + "\n"}
		for k, v := range attrs {
			files[k] = v + "\n"
		}
		for iface, c := range ifClasses {
			files[name+":"+iface+"/bInterfaceClass"] = c + "\n"
		}
		tr.set("bus/usb/devices/"+name, files)
	}
	dev("usb1", "1", "1", "09", map[string]string{"1.0": "09"}, map[string]string{"product": "xHCI Host Controller"})
	dev("1-1", "1", "2", "09", map[string]string{"1.0": "09"}, map[string]string{"product": "USB2 Hub"})
	dev("1-1.2", "1", "3", "ff", map[string]string{"1.0": "ff"}, map[string]string{"product": "iDRAC Virtual NIC", "manufacturer": "Dell"})
	dev("1-2", "1", "4", "00", map[string]string{"1.0": "03", "1.1": "03"}, map[string]string{"product": "Keyboard"})
	dev("2-1", "2", "2", "00", map[string]string{"1.0": "08"}, map[string]string{"product": "Virtual Floppy"})
	dev("2-3", "2", "10", "ef", map[string]string{"1.0": "0b"}, nil)
	tr.set("bus/usb/devices/1-1.2:1.0", map[string]string{"bInterfaceClass": "ff\n"})

	b, _ := json.Marshal(USBDevices(Root{Sys: tr.root}))
	want := `[{"product":"iDRAC Virtual NIC","vendor":"Dell","handle":"USB:1:3"},{"product":"","vendor":"","handle":"USB:2:10"}]`
	if string(b) != want {
		t.Errorf("usb_devices = %s\nwant %s", b, want)
	}
	if b, _ := json.Marshal(USBDevices(Root{Sys: t.TempDir()})); string(b) != "[]" {
		t.Errorf("without USB: %s, want []", b)
	}
}
