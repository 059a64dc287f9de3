package yarn

import "testing"

func TestContainerIDRoundTrip(t *testing.T) {
	for _, s := range []string{
		"container_1700000000000_0001_01_000002",
		"container_e17_1700000000000_0042_03_1234567",
		"container_1_12345_01_000001",
	} {
		id, err := ParseContainerID(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatContainerID(id); got != s {
			t.Errorf("round trip %s -> %s", s, got)
		}
	}
	id, _ := ParseContainerID("container_e17_1700000000000_0042_03_1234567")
	if id.GetId() != 17<<40|1234567 || FormatAttemptID(id.GetAppAttemptId()) != "appattempt_1700000000000_0042_000003" {
		t.Fatalf("fields: %v", id)
	}
	for _, bad := range []string{"", "container_1_2_3", "container_x_1_1_1_1", "application_1_1", "container_ex_1_1_1_1"} {
		if _, err := ParseContainerID(bad); err == nil {
			t.Errorf("ParseContainerID(%q) accepted", bad)
		}
	}
	app, err := ParseApplicationID("application_1700000000000_0007")
	if err != nil || FormatApplicationID(app) != "application_1700000000000_0007" || app.GetId() != 7 {
		t.Fatalf("application id: %v %v", app, err)
	}
	if _, err := ParseApplicationID("application_x_1"); err == nil {
		t.Fatal("bad application id accepted")
	}
}
