// Pages are data: a list is a command, its columns and its row actions; a form is its fields.
import type { VNodeChild } from 'vue';
import type { Json, Params } from '../api.ts';

export interface Column {
  key: string;
  title: string;
  /** A cell other than the field's text (a tag, a link, counters). */
  render?: (row: Json) => VNodeChild;
  /** A router path: the cell links there. */
  link?: (row: Json) => string;
}

export interface Option { value: string; label: string }

export interface Field {
  name: string;
  label: string;
  type?: 'text' | 'password' | 'number' | 'textarea' | 'select' | 'checkbox';
  required?: boolean;
  help?: string;
  default?: string;
  /** Choices of a select: fixed, or a list command's items (value = id, label = name). */
  options?: Option[] | { command: string; params?: Params; value?: string; label?: (row: Json) => string; filter?: (row: Json) => boolean };
}

export interface Action {
  label: string;
  command: string;
  params: (row: Json) => Params;
  /** Asks before running (destroy, delete, release). */
  confirm?: (row: Json) => string;
  show?: (row: Json) => boolean;
  /** Fields asked for in a dialog before running (e.g. restart's cleanup). */
  form?: Field[];
  /** The dialog's first values from the row (an edit form shows what is set now). */
  initial?: (row: Json) => Record<string, string>;
  /** The dialog's values into the command's parameters (e.g. a map parameter's param[0].name). */
  transform?: (values: Params) => Params;
  /** What to say when it worked (e.g. a reset password). */
  done?: (result: Json, row: Json) => string;
  /** A local action instead of a command (e.g. show the row's details below the list). */
  run?: (row: Json) => void;
}
