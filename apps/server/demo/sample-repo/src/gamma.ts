export const gamma = 'gamma';
