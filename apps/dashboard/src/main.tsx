import { render } from 'preact';
import { App } from './app.tsx';
import { takeSignInCode } from './api/sign-in-link.ts';
import './styles.css';

// The sign-in code leaves the address bar before the first render reads the route from it.
render(<App signInCode={takeSignInCode()} />, document.getElementById('app')!);
