export function alpha(): string {
  console.log('alpha');
  return 'alpha';
}
