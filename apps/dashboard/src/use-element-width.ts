import { useEffect, useState } from 'preact/hooks';

/**
 * A callback ref for an element and its width in CSS px, kept up to date as it resizes (0 until
 * measured). A callback, not an object ref: the element may mount after the component does.
 */
export function useElementWidth<Element extends HTMLElement>() {
  const [element, setElement] = useState<Element | null>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    if (element === null) return;
    const observer = new ResizeObserver(([entry]) => setWidth(entry!.contentRect.width));
    observer.observe(element);
    return () => observer.disconnect();
  }, [element]);
  return { ref: setElement, width };
}
