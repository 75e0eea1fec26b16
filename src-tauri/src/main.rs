// Hides the extra console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    qcat_console_lib::software_rendering_unless_asked();
    qcat_console_lib::run();
}
