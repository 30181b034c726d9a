package hardware

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// USBInfo is one entry of IPA's usb_devices inspection data.
type USBInfo struct {
	Product string `json:"product"`
	Vendor  string `json:"vendor"`
	Handle  string `json:"handle"` // lshw's "USB:<bus>:<devnum>"
}

// lshwClassedUSB are the USB class codes lshw gives a class of their own
// (audio, communication, HID, printer, mass storage, hub, video,
// wireless); IPA reports only the devices lshw leaves "generic".
var lshwClassedUSB = []string{"01", "02", "03", "07", "08", "09", "0e", "e0"}

// USBDevices lists /sys/bus/usb/devices as IPA's get_usb_devices does
// through lshw: devices other than root hubs whose device class and
// interface classes are all generic (vendor-specific, CDC data, smart card,
// imaging…). Vendor and product are the device's own strings: the ramdisk
// has no usb.ids to name the others from.
func USBDevices(r Root) []USBInfo {
	dir := r.sys("bus/usb/devices")
	out := []USBInfo{}
	type dev struct {
		USBInfo
		bus, num int64
	}
	var devs []dev
	for _, name := range listNames(dir) {
		// Root hubs are usbN, interfaces BUS-PORT:CFG.IF.
		if strings.HasPrefix(name, "usb") || strings.Contains(name, ":") {
			continue
		}
		d := filepath.Join(dir, name)
		if !usbGeneric(d, name) {
			continue
		}
		bus, _ := readInt(filepath.Join(d, "busnum"))
		num, _ := readInt(filepath.Join(d, "devnum"))
		product, _ := readString(filepath.Join(d, "product"))
		vendor, _ := readString(filepath.Join(d, "manufacturer"))
		devs = append(devs, dev{USBInfo{Product: product, Vendor: vendor,
			Handle: fmt.Sprintf("USB:%d:%d", bus, num)}, bus, num})
	}
	slices.SortFunc(devs, func(a, b dev) int { return cmp.Or(cmp.Compare(a.bus, b.bus), cmp.Compare(a.num, b.num)) })
	for _, d := range devs {
		out = append(out, d.USBInfo)
	}
	return out
}

// usbGeneric reports whether neither the device's class nor any of its
// active interfaces' classes is one lshw names.
func usbGeneric(dir, name string) bool {
	classes := []string{}
	if c, ok := readString(filepath.Join(dir, "bDeviceClass")); ok {
		classes = append(classes, c)
	}
	ifs, _ := filepath.Glob(filepath.Join(dir, name+":*", "bInterfaceClass"))
	for _, f := range ifs {
		if c, ok := readString(f); ok {
			classes = append(classes, c)
		}
	}
	for _, c := range classes {
		if slices.Contains(lshwClassedUSB, strings.ToLower(c)) {
			return false
		}
	}
	return true
}
