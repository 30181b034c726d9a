"""Builds virtual media with Ironic's own code, as its redfish boot interface
does. Usage:

  vmediaiso.py iso KERNEL INITRD CA_FILE NETWORK_DATA_JSON|- OUT_DIR KEY=VALUE...
  vmediaiso.py floppy OUT_FILE KEY=VALUE...

iso runs image_utils.prepare_deploy_iso: the kernel line, ironic.crt with
the TLS config file and network_data.json (none with -, and the ISO is then
VMEDIA_BOOT_ISO rather than config-2) are laid out by Ironic. KEY=VALUE are
the ramdisk parameters Ironic would pass (ipa-api-url, ...); boot_method=vmedia
is added as redfish's prepare_ramdisk does. The ISO is published into OUT_DIR
(Ironic's [deploy]http_root); its path is printed.

floppy runs images.create_vfat_image, which prepare_floppy_image uses for
redfish's config_via_removable: a FAT image labelled ir-vfd-dev holding
parameters.txt.

It runs under Ironic 35 in the Debian forky root the real-Ironic suite uses
(make deps-ironic35), chrooted by the test, or Debian 12's 21.4 on the host.
"""
import json
import os
import sys
import types

# Ironic 35: image_utils imported first is a circular import.
from ironic.conductor import utils as _conductor_utils  # noqa: F401
from ironic.common import context
from ironic.common import images
from ironic.conf import CONF
from ironic.drivers.modules import image_utils


def params_of(words):
    return dict(w.split('=', 1) for w in words)


def iso(kernel, initrd, ca, network_data, out, *params):
    CONF.set_override('api_ca_file', ca, group='agent')
    CONF.set_override('http_root', out, group='deploy')
    CONF.set_override('http_url', 'http://vmedia.invalid', group='deploy')
    CONF.set_override('default_boot_mode', 'bios', group='deploy')
    CONF.set_override('use_swift', False, group='redfish')
    CONF.set_override('file_url_allowed_paths',
                      [os.path.dirname(kernel), os.path.dirname(initrd)],
                      group='conductor')
    # The VM boots the kernel directly (QEMU -kernel): the boot sector only
    # has to exist for mkisofs -b.
    CONF.set_override('isolinux_bin', os.path.join(out, 'isolinux.bin'))
    with open(CONF.isolinux_bin, 'wb') as f:
        f.write(bytes(2048))
    nd = {}
    if network_data != '-':
        with open(network_data) as f:
            nd = json.load(f)

    d_info = {'deploy_kernel': 'file://' + kernel,
              'deploy_ramdisk': 'file://' + initrd}
    # 21.4 reads the kernel and ramdisk from d_info, 35 from driver_info.
    node = types.SimpleNamespace(
        uuid='1be26c0b-03f2-4d2e-ae87-c02d7f33c781', driver='redfish',
        provision_state='deploying', driver_info=dict(d_info), instance_info={},
        driver_internal_info={}, properties={},
        get_interface=lambda name: 'redfish-virtual-media')
    task = types.SimpleNamespace(
        node=node, context=context.get_admin_context(),
        driver=types.SimpleNamespace(network=types.SimpleNamespace(
            get_node_network_data=lambda task: nd)))
    ramdisk_params = params_of(params)
    ramdisk_params['boot_method'] = 'vmedia'
    url = image_utils.prepare_deploy_iso(task, ramdisk_params, 'deploy',
                                         d_info)
    print(url.replace(CONF.deploy.http_url, out, 1))


def floppy(out, *params):
    images.create_vfat_image(out, parameters=params_of(params))
    print(out)


if __name__ == '__main__':
    CONF([], project='ironic')
    {'iso': iso, 'floppy': floppy}[sys.argv[1]](*sys.argv[2:])
