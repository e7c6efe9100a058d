from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _platform

OS_RELEASE = {
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    "ubuntu2404": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
    "rhel9": 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n',
    "rocky9": 'ID="rocky"\nID_LIKE="rhel centos fedora"\n',
    "fedora40": "ID=fedora\nVERSION_ID=40\n",
}


@pytest.mark.parametrize(
    ("name", "system", "family"),
    [
        ("debian12", "Linux", "Debian"),
        ("ubuntu2404", "Linux", "Debian"),
        ("rhel9", "Linux", "RedHat"),
        ("rocky9", "Linux", "RedHat"),
        ("fedora40", "Linux", "RedHat"),
        ("debian12", "SunOS", "Solaris"),
    ],
)
def test_family(name, system, family):
    assert _platform.family_from(system, _platform.parse_os_release(OS_RELEASE[name])) == family


def test_layouts_per_family():
    debian, redhat, solaris = (_platform.LAYOUTS[f] for f in ("Debian", "RedHat", "Solaris"))
    assert debian.service_stop == ["/etc/init.d/sendmail", "stop"] and debian.logs[0] == "/var/log/mail.log"
    assert redhat.service_start == ["systemctl", "start", "sendmail"] and redhat.pidfile == "/var/run/sendmail.pid"
    assert redhat.logs[0] == "/var/log/maillog"
    assert solaris.sendmail == "/usr/lib/sendmail"
    assert solaris.service_stop == ["/usr/sbin/svcadm", "disable", "-st", "network/smtp:sendmail"]
    assert solaris.logs == ["/var/log/syslog", "/var/adm/messages"]
    for layout in (debian, redhat, solaris):
        assert all(isinstance(a, str) and a for a in layout.service_stop + layout.service_start)
