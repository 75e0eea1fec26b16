import { mount } from 'svelte';
import './styles/app.css';
import App from './App.svelte';
import { setLanguage } from './lib/i18n/index.svelte';
import { applyTheme, loadPreferences } from './lib/prefs';
import { forwardUncaughtErrors } from './lib/ipc';

forwardUncaughtErrors();
const prefs = loadPreferences();
setLanguage(prefs.language);
applyTheme(prefs.theme);

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');
export default mount(App, { target });
