export function beta(): string {
  console.log('beta');
  return 'beta';
}
