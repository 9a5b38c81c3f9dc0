package telemetry

// QuickCheck is a fast, allocation-free validity check of one client event against the
// event schemas of the contract (4.2–4.4). It answers true only when it is sure the
// event is valid; anything unusual (an invalid event, a number written with a fraction
// or an exponent, escapes in a checked string) answers false and the caller falls back
// to the generic JSON-schema validator, which also produces the error details. The
// fast path therefore never has to reproduce error messages, only validity, and
// FuzzQuickCheck-style tests compare it with the schema.
//
// It returns the client type of a valid event.
func QuickCheck(ev Value) (clientType string, ok bool) {
	if !ev.Is(KindObject) {
		return "", false
	}
	t := ev.Get("type")
	if !t.Is(KindString) || t.n().flags&flagEscaped != 0 {
		return "", false
	}
	clientType = string(t.StrBytes(nil))
	if EventType(clientType) == "" {
		return "", false
	}
	if !plainString(ev.Get("workspace")) || !isTimestamp(ev.Get("timestamp")) || !isUUID(ev.Get("session_id")) {
		return "", false
	}
	switch clientType {
	case ClientFileSave:
		ok = isFileMeta(ev.Get("file"))
	case ClientTextChange:
		ok = isFileMeta(ev.Get("file")) && isTextMetrics(ev.Get("metrics"))
	case ClientEditorSwitch:
		ok = isSwitchMetrics(ev.Get("metrics")) && isSwitchEnd(ev.Get("from")) && isSwitchEnd(ev.Get("to"))
	case ClientDebugSessionStart:
		d := ev.Get("debug")
		ok = d.Is(KindObject) && plainString(d.Get("name")) && plainString(d.Get("type")) && optString(d.Get("launch_configuration_name"))
	case ClientTerminalOpen:
		d := ev.Get("terminal")
		ok = d.Is(KindObject) && plainString(d.Get("name")) && optString(d.Get("shell_type"))
	case ClientGitActivity:
		d := ev.Get("git")
		ok = d.Is(KindObject) && plainInteger(d.Get("changed_files_count")) && optString(d.Get("branch"))
	}
	if !ok {
		return "", false
	}
	return clientType, true
}

func plainString(v Value) bool { return v.Is(KindString) }

func optString(v Value) bool { return !v.Exists() || v.Is(KindString) }

// plainInteger accepts integers written without fraction or exponent; others are left
// to the schema validator.
func plainInteger(v Value) bool {
	if !v.Is(KindNumber) {
		return false
	}
	for _, c := range v.Raw() {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

func optInteger(v Value) bool { return !v.Exists() || plainInteger(v) }

func isBool(v Value) bool { return v.Is(KindTrue) || v.Is(KindFalse) }

func plainNumber(v Value) bool {
	if !v.Is(KindNumber) {
		return false
	}
	for _, c := range v.Raw() {
		if c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

func isTimestamp(v Value) bool {
	if !v.Is(KindString) || v.n().flags&flagEscaped != 0 {
		return false
	}
	raw := v.Raw()
	_, err := ParseTimestamp(raw[1 : len(raw)-1])
	return err == nil
}

func isUUID(v Value) bool {
	if !v.Is(KindString) || v.n().flags&flagEscaped != 0 {
		return false
	}
	raw := v.Raw()
	return isUUIDText(raw[1 : len(raw)-1])
}

func isUUIDText(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func isFileMeta(f Value) bool {
	return f.Is(KindObject) && plainString(f.Get("path")) &&
		optString(f.Get("name")) && optString(f.Get("absolute_path")) && optString(f.Get("extension")) &&
		optString(f.Get("language")) && optString(f.Get("workspace")) &&
		optInteger(f.Get("lines")) && optInteger(f.Get("size_bytes"))
}

func isTextMetrics(m Value) bool {
	if !(m.Is(KindObject) && plainInteger(m.Get("characters_added")) && plainInteger(m.Get("characters_deleted")) &&
		plainInteger(m.Get("change_count")) && plainInteger(m.Get("edit_duration_ms")) &&
		isBool(m.Get("is_large_paste")) && isBool(m.Get("is_possible_rewrite")) && isBool(m.Get("is_possible_undo_cycle"))) {
		return false
	}
	r := m.Get("affected_line_ranges")
	if !r.Exists() {
		return true
	}
	if !r.Is(KindArray) {
		return false
	}
	for _, e := range r.Elements() {
		if !e.Is(KindObject) || !plainInteger(e.Get("start")) || !plainInteger(e.Get("end")) {
			return false
		}
	}
	return true
}

func isSwitchMetrics(m Value) bool {
	return m.Is(KindObject) && plainNumber(m.Get("switch_interval_seconds")) &&
		isBool(m.Get("is_cross_module_switch")) && isBool(m.Get("is_rapid_context_switching"))
}

func isSwitchEnd(v Value) bool {
	if !v.Exists() {
		return true
	}
	return v.Is(KindObject) && optString(v.Get("file")) && optString(v.Get("language")) && optString(v.Get("module"))
}
